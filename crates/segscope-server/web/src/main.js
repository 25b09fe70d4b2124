// segscope dashboard: a small single-page app over the public JSON API.
// Pages: sign-in, workspace picker, segment list, segment summary, contact
// lists behind every count, segment editor, compare. Routing is by the URL
// hash, and every page reads its state from the URL.
import { api, get, wsPath, query, setCsrf, ApiError } from "./api.js";
import { h, clear, append, replace, download, toCsv } from "./dom.js";
import { fmtInt, fmtCount, fmtPct, fmtDuration, fmtDateTime, fmtDate, fmtSigned, fmtDec, DASH } from "./format.js";
import { currentRoute, href, summaryState, summaryQuery, stateParams, RANGES, VIEWS } from "./state.js";
import { disposeAll, barChart, donutChart, growthChart, websiteChart, worldMap, groupedShares, COLORS } from "./charts.js";

const app = document.getElementById("app");
const nav = document.getElementById("nav");
const account = document.getElementById("account");
let session = null; // {workspaces: [...]} once signed in
let renderToken = 0;

window.addEventListener("hashchange", () => route());
window.addEventListener("DOMContentLoaded", () => start());
if (document.readyState !== "loading") start();

let started = false;
async function start() {
  if (started) return;
  started = true;
  try {
    const s = await get("/api/v1/session");
    signedIn(s);
  } catch (err) {
    if (err.status === 401) return showSignIn();
    return showFatal(err);
  }
  route();
}

function signedIn(s) {
  session = s;
  setCsrf(s.csrf_token);
  replace(account, 
    h("button", { class: "link", type: "button", onclick: signOut }, "Sign out"),
  );
}

async function signOut() {
  try {
    await api("DELETE", "/api/v1/session");
  } catch {
    // The session may already be gone; signing in again is the answer either way.
  }
  session = null;
  setCsrf(null);
  location.hash = "#/";
  showSignIn();
}

function showSignIn(message) {
  disposeAll();
  clear(nav);
  clear(account);
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "current-password", required: true, placeholder: "adm_…" });
  const error = h("p", { class: "error-text", role: "alert" }, message || "");
  const form = h("form", { class: "card signin", onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      const s = await api("POST", "/api/v1/session", { token: input.value.trim() });
      signedIn(s);
      route();
    } catch (err) {
      error.textContent = err.message;
    }
  } },
  h("h1", null, "Sign in to segscope"),
  h("p", { class: "muted" }, "Use the admin token printed when the server first started (", h("code", null, "segscope demo"), " prints a new one each run)."),
  h("label", { for: "token" }, "Admin token"), input,
  h("button", { class: "primary", type: "submit" }, "Sign in"), error);
  replace(app, form);
  input.focus();
}

function showFatal(err) {
  replace(app, errorBox(err));
}

function errorBox(err, retry) {
  const status = err instanceof ApiError && err.status ? ` (${err.status} ${err.code})` : "";
  return h("div", { class: "card error-state", role: "alert" },
    h("h2", null, "Something went wrong"),
    h("p", null, err.message + status),
    err.details && err.details.error_id ? h("p", { class: "muted" }, "error id: ", h("code", null, err.details.error_id)) : null,
    retry ? h("button", { type: "button", onclick: retry }, "Try again") : null);
}

function emptyState(title, text) {
  return h("div", { class: "empty" }, h("strong", null, title), text ? h("p", null, text) : null);
}

async function route() {
  if (!session) return;
  const token = ++renderToken;
  delete document.body.dataset.ready;
  disposeAll();
  const { parts, params } = currentRoute();
  const stale = () => token !== renderToken;
  try {
    if (parts[0] !== "w" || !parts[1]) return await pickWorkspace(stale);
    const ws = parts[1];
    renderNav(ws, parts[2] === "compare" ? "compare" : "segments");
    if (!parts[2]) return await segmentList(ws, params, stale);
    if (parts[2] === "new") return await editor(ws, null, stale);
    if (parts[2] === "compare") return await compare(ws, params, stale);
    if (parts[2] === "s" && parts[3] != null) {
      if (parts[4] === "edit") return await editor(ws, parts[3], stale);
      if (parts[4] === "contacts") return await contacts(ws, parts[3], params, stale);
      return await summaryPage(ws, parts[3], params, stale);
    }
    replace(app, emptyState("Page not found", "This address is not a dashboard page."), h("a", { href: "#/" }, "Back to the start"));
  } catch (err) {
    if (stale()) return;
    if (err.status === 401) return showSignIn("Your session has ended: sign in again.");
    replace(app, errorBox(err, route));
  }
}

function renderNav(ws, active) {
  replace(nav, 
    session.workspaces.length > 1
      ? h("select", { "aria-label": "Workspace", onchange: (e) => (location.hash = href(["w", e.target.value])) },
        session.workspaces.map((w) => h("option", { value: w.id, selected: w.id === ws }, w.id)))
      : h("span", { class: "ws" }, ws),
    h("a", { href: href(["w", ws]), class: active === "segments" ? "active" : "" }, "Segments"),
    h("a", { href: href(["w", ws, "compare"]), class: active === "compare" ? "active" : "" }, "Compare"),
    h("a", { href: "/api/v1/docs", target: "_blank", rel: "noopener" }, "API"),
  );
}

// ---------------------------------------------------------------- workspaces

async function pickWorkspace(stale) {
  clear(nav);
  const list = session.workspaces;
  if (list.length === 1) {
    location.replace(href(["w", list[0].id]));
    return;
  }
  if (stale()) return;
  replace(app, 
    h("h1", null, "Workspaces"),
    list.length === 0
      ? emptyState("No workspace yet", "Create one with `segscope workspace create <id>`, then import contacts or add the tracking snippet.")
      : h("ul", { class: "card list" }, list.map((w) => h("li", null, h("a", { href: href(["w", w.id]) }, w.id), " ", h("span", { class: "muted" }, fmtCount(w.contacts, "contact", "contacts"))))),
  );
}

// ---------------------------------------------------------------- controls

function controls(ws, parts, state, settings, opts = {}) {
  const go = (changes) => (location.hash = href(parts, stateParams({ ...state, ...changes }, opts.extra ? opts.extra(changes) : {})));
  const viewSwitch = h("div", { class: "seg-switch", role: "group", "aria-label": "View" },
    VIEWS.map(([key, label]) => h("button", { type: "button", "data-view": key, class: key === state.view ? "on" : "", "aria-pressed": String(key === state.view), onclick: () => go({ view: key }) }, label)));
  const rangeSelect = h("select", { "aria-label": "Time range", name: "range", onchange: (e) => {
    if (e.target.value === "custom") {
      const to = new Date();
      const from = new Date(Date.now() - 29 * 86400000);
      go({ range: "custom", from: state.from || from.toISOString().slice(0, 10), to: state.to || to.toISOString().slice(0, 10) });
    } else go({ range: e.target.value });
  } }, RANGES.map(([key, label]) => h("option", { value: key, selected: key === state.range }, label)));
  const custom = state.range === "custom"
    ? h("span", { class: "custom-range" },
      h("input", { type: "date", "aria-label": "From", value: state.from, onchange: (e) => go({ from: e.target.value }) }),
      "–",
      h("input", { type: "date", "aria-label": "To (inclusive)", value: state.to, onchange: (e) => go({ to: e.target.value }) }))
    : null;
  const zones = timeZones(settings.time_zone, state.tz);
  const tzSelect = h("select", { "aria-label": "Time zone", name: "tz", onchange: (e) => go({ tz: e.target.value === settings.time_zone ? "" : e.target.value }) },
    zones.map((z) => h("option", { value: z, selected: z === (state.tz || settings.time_zone) }, z === settings.time_zone ? `${z} (workspace)` : z)));
  return h("div", { class: "controls" }, opts.noView ? null : viewSwitch, h("label", { class: "ctl" }, "Range ", rangeSelect), custom, h("label", { class: "ctl" }, "Time zone ", tzSelect));
}

function timeZones(workspaceTz, current) {
  let zones = [];
  try {
    zones = Intl.supportedValuesOf("timeZone");
  } catch {
    zones = ["UTC", "Europe/London", "Europe/Paris", "America/New_York", "America/Los_Angeles", "Asia/Tokyo"];
  }
  const set = new Set([workspaceTz, "UTC", ...zones]);
  if (current) set.add(current);
  return [...set];
}

// ---------------------------------------------------------------- segment list

async function segmentList(ws, params, stale) {
  const state = summaryState(params);
  const [list, settings] = await Promise.all([get(wsPath(ws, "/segments")), get(wsPath(ws, "/settings"))]);
  if (stale()) return;
  const search = h("input", { type: "search", placeholder: "Search segments", "aria-label": "Search segments", value: params.get("q") || "" });
  const tbody = h("tbody");
  const rows = list.items.map((s) => {
    const change = h("td", { class: "num muted", "data-change": s.id }, "…");
    const tr = h("tr", { "data-name": s.name.toLowerCase() },
      h("td", null, h("a", { href: href(["w", ws, "s", s.id], stateParams(state)) }, s.name), s.system ? h("span", { class: "badge" }, "built-in") : s.type === "static" ? h("span", { class: "badge" }, "list") : null),
      h("td", { class: "num" }, countLink(ws, s.id, state, { view: "known" }, s.members.known)),
      h("td", { class: "num" }, countLink(ws, s.id, state, { view: "anonymous" }, s.members.anonymous)),
      h("td", { class: "num strong" }, countLink(ws, s.id, state, { view: "all" }, s.members.total)),
      change,
      h("td", { class: "muted nowrap" }, fmtDateTime(s.last_change, state.tz || settings.time_zone)));
    return { tr, s, change };
  });
  const filter = () => {
    const q = search.value.trim().toLowerCase();
    let shown = 0;
    for (const r of rows) {
      const hit = !q || r.tr.dataset.name.includes(q);
      r.tr.hidden = !hit;
      shown += hit;
    }
    noMatch.hidden = shown > 0;
    history.replaceState(null, "", href(["w", ws], stateParams(state, { q: search.value || undefined })));
  };
  search.addEventListener("input", filter);
  const noMatch = h("p", { class: "muted pad", hidden: true }, "No segment matches this search.");
  append(tbody, rows.map((r) => r.tr));
  const rangeLabel = (RANGES.find((r) => r[0] === state.range) || ["", "range"])[1];
  replace(app, 
    h("div", { class: "page-head" }, h("h1", null, "Segments"), h("div", { class: "actions" }, h("a", { class: "button primary", href: href(["w", ws, "new"]) }, "New segment"))),
    controls(ws, ["w", ws], state, settings, { noView: true }),
    h("div", { class: "card" }, search,
      h("div", { class: "table-wrap" }, h("table", { class: "data", id: "segment-list" },
        h("thead", null, h("tr", null, h("th", null, "Segment"), h("th", { class: "num" }, "Known"), h("th", { class: "num" }, "Anonymous"), h("th", { class: "num" }, "Total"), h("th", { class: "num" }, `Change (${rangeLabel.toLowerCase()})`), h("th", null, "Last change"))),
        tbody)), noMatch),
  );
  filter();
  // Net change over the range comes from each segment's growth block; four
  // requests at a time keep a big workspace's server responsive.
  const queue = [...rows];
  const worker = async () => {
    while (queue.length && !stale()) {
      const r = queue.shift();
      try {
        const s = await get(wsPath(ws, `/segments/${r.s.id}/summary${query({ ...summaryQuery(state, false), view: "all" })}`));
        r.change.textContent = fmtSigned(s.growth.net);
        r.change.className = `num ${s.growth.net > 0 ? "up" : s.growth.net < 0 ? "down" : "muted"}`;
        r.change.title = `+${fmtInt(s.growth.added)} added, −${fmtInt(s.growth.removed)} removed`;
      } catch (err) {
        r.change.textContent = "error";
        r.change.title = err.message;
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

// Links a count to the contacts behind it.
function countLink(ws, id, state, filters, value) {
  const params = { ...stateParams(state), view: undefined, ...filters };
  if (params.view === "all") delete params.view;
  return h("a", { href: href(["w", ws, "s", id, "contacts"], params), class: "count", title: "List these contacts" }, fmtInt(value));
}

// ---------------------------------------------------------------- summary

function card(title, opts, ...body) {
  const el = h("section", { class: `card block ${opts.wide ? "wide" : ""}`, "data-block": opts.id || "" },
    h("div", { class: "card-head" }, h("h2", null, title), h("div", { class: "card-tools" }, opts.csv ? h("button", { type: "button", class: "small", "data-csv": opts.id, onclick: () => download(`${opts.file}-${opts.id}.csv`, toCsv(opts.csv()), "text/csv") }, "CSV") : null)),
    body);
  return el;
}

function allZero(rows) {
  return rows.every((r) => !r.count);
}

function distributionTable(rows, link) {
  return h("table", { class: "data compact" }, h("tbody", null, rows.map((r) => h("tr", null,
    h("td", null, r.label),
    h("td", { class: "num" }, link && r.filter ? link(r.filter, r.count) : fmtInt(r.count)),
    h("td", { class: "num muted" }, fmtPct(r.share))))));
}

async function summaryPage(ws, id, params, stale) {
  const state = summaryState(params);
  const [segment, settings] = await Promise.all([get(wsPath(ws, `/segments/${encodeURIComponent(id)}`)), get(wsPath(ws, "/settings"))]);
  if (stale()) return;
  const parts = ["w", ws, "s", id];
  const head = h("div", { class: "page-head" },
    h("div", null,
      h("h1", { id: "segment-name" }, segment.name),
      h("p", { class: "muted crit" }, segment.type === "static" ? "Static list" : h("code", null, segment.criteria_text))),
    h("div", { class: "actions" },
      segment.system ? null : h("a", { class: "button", href: href(["w", ws, "s", id, "edit"]) }, segment.type === "static" ? "Rename" : "Edit"),
      h("a", { class: "button", href: href(["w", ws, "compare"], { ...stateParams(state), ids: String(segment.id === 0 ? 0 : `${segment.id},0`) }) }, "Compare"),
      h("button", { type: "button", id: "download-json", disabled: true }, "Summary JSON")));
  const body = h("div", { class: "grid" }, h("p", { class: "muted pad" }, "Computing the summary…"));
  replace(app, head, controls(ws, parts, state, settings, { extra: () => ({ country: state.country || undefined, region: state.region || undefined }) }), body);
  const started = performance.now();
  let summary;
  try {
    summary = await get(wsPath(ws, `/segments/${encodeURIComponent(id)}/summary${query(summaryQuery(state))}`));
  } catch (err) {
    // A bad range or zone is the controls' business: say so under them and
    // keep them, so the next pick fixes it.
    if (stale() || err.status === 401) throw err;
    const parameter = err.details && err.details.parameter;
    const message = (parameter === "from" || parameter === "to") && /before/.test(err.message)
      ? new ApiError(422, { error: { code: "invalid", message: "The range starts after it ends: pick a “from” date on or before the “to” date." } })
      : err;
    replace(body, h("div", { class: "wide", id: "summary-error" }, errorBox(message)));
    return;
  }
  if (stale()) return;
  const jsonButton = document.getElementById("download-json");
  jsonButton.disabled = false;
  jsonButton.onclick = () => download(`${fileBase(segment)}-summary.json`, JSON.stringify(summary, null, 2), "application/json");
  renderSummary(body, ws, id, segment, summary, state, parts);
  document.body.dataset.renderMs = String(Math.round(performance.now() - started));
  document.body.dataset.ready = "summary";
}

/// A range as people say it: its end is exclusive, so a range to midnight
/// ends on the day before ("5 Nov 2026 – 4 Dec 2026"); other ends show the time.
function rangeText(range, tz) {
  const endsAtMidnight = (iso) => {
    try {
      return new Intl.DateTimeFormat("en-GB", { timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }).format(new Date(iso)) === "00:00:00";
    } catch {
      return false;
    }
  };
  if (endsAtMidnight(range.from) && endsAtMidnight(range.to)) {
    return `${fmtDate(range.from, tz)} – ${fmtDate(new Date(new Date(range.to).getTime() - 1000).toISOString(), tz)}`;
  }
  return `${fmtDateTime(range.from, tz)} – ${fmtDateTime(range.to, tz)}`;
}

function fileBase(segment) {
  return (segment.name || "segment").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || `segment-${segment.id}`;
}

function renderSummary(body, ws, id, segment, s, state, parts) {
  clear(body);
  const tz = s.time_zone;
  const link = (filters, value) => countLink(ws, id, state, { view: state.view, ...filters }, value);
  const file = fileBase(segment);
  const o = s.overall;
  const viewTotal = state.view === "known" ? o.known : state.view === "anonymous" ? o.anonymous : o.total;
  if (viewTotal === 0) {
    body.append(h("div", { class: "wide" }, emptyState(
      segment.members.total === 0 ? "No data yet — import contacts or add the tracking snippet" : `No ${state.view} contacts in this segment`,
      segment.members.total === 0 ? "This segment has no members. Import a contact CSV, send events to /api/v1/…/imports/events, or add the tracking snippet to your site; the summary fills in as data arrives." : "Switch the view to see the other members.")));
  }

  // Stat cards
  const stat = (label, value, sub, key) => h("div", { class: "stat", "data-stat": key }, h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value), sub ? h("div", { class: "stat-sub muted" }, sub) : null);
  body.append(h("div", { class: "stats wide" },
    stat("Known contacts", link({ view: "known" }, o.known), state.view === "anonymous" ? "not in this view" : null, "known"),
    stat("Anonymous contacts", link({ view: "anonymous" }, o.anonymous), state.view === "known" ? "not in this view" : null, "anonymous"),
    stat("Total contacts", link({}, o.total), null, "total"),
    stat("Sessions", fmtInt(o.sessions), o.sessions ? `${fmtPct(o.bounce_rate)} bounced` : "no sessions in this range", "sessions"),
    stat("Avg session duration", fmtDuration(o.avg_session_secs), o.sessions ? `over ${fmtCount(o.sessions, "session", "sessions")}` : "no sessions in this range", "duration")));

  // Growth
  const g = s.growth;
  const growthEl = h("div", { class: "chart" });
  body.append(card("Growth", { id: "growth", wide: true, file, csv: () => [["period", "start", "end", "added", "removed", "net", "total"], ...g.points.map((p) => [p.period, p.start, p.end, p.added, p.removed, p.net, p.total])] },
    h("p", { class: "legend-line" },
      h("span", { class: g.added ? "up" : "muted" }, `${g.added ? "+" : ""}${fmtInt(g.added)} added`), " · ",
      h("span", { class: g.removed ? "down" : "muted" }, `${g.removed ? "−" : ""}${fmtInt(g.removed)} removed`), " · ",
      `net ${fmtSigned(g.net)} · ${fmtInt(g.total_at_start)} → ${fmtCount(g.total_at_end, "member", "members")}`,
      h("span", { class: "muted" }, ` · by ${g.granularity}, ${rangeText(s.range, tz)} (${tz})`)),
    growthEl));
  growthChart(growthEl, g.points);

  // Associated entities
  const a = s.associated;
  const autoList = (title, block, kind) => h("div", { class: "assoc" },
    h("h3", null, `${title} `, h("span", { class: "muted" }, `${fmtInt(block.total)} total, ${fmtInt(block.active)} active`)),
    block.items.length
      ? h("ul", { class: "plain" }, block.items.map((j) => h("li", { "data-kind": kind }, h("a", { class: "name", href: wsPath(ws, `/${kind}s/${encodeURIComponent(j.id)}`), target: "_blank", rel: "noopener", title: `This ${kind} in the API (JSON)` }, j.name), " ", h("span", { class: `status status-${j.status}` }, j.status), j.kind ? h("span", { class: "muted" }, ` · ${j.kind}`) : null)))
      : h("p", { class: "muted" }, `No ${title.toLowerCase()} reference this segment.`));
  body.append(card("Journeys, campaigns and email consent", { id: "associated", file, csv: () => [["type", "id", "name", "status", "kind"], ...a.journeys.items.map((j) => ["journey", j.id, j.name, j.status, j.kind]), ...a.campaigns.items.map((j) => ["campaign", j.id, j.name, j.status, j.kind]), [], ["flag", "count", "share"], ["opted_in", a.opted_in.count, a.opted_in.share], ["bounced", a.bounced.count, a.bounced.share], ["unsubscribed", a.unsubscribed.count, a.unsubscribed.share]] },
    h("div", { class: "flags" },
      [["opted_in", "Opted in"], ["bounced", "Bounced"], ["unsubscribed", "Unsubscribed"]].map(([k, label]) => h("div", { class: "flag", "data-flag": k }, h("div", { class: "stat-value small" }, fmtInt(a[k].count)), h("div", { class: "muted" }, `${label} · ${fmtPct(a[k].share)}`)))),
    autoList("Journeys", a.journeys, "journey"), autoList("Campaigns", a.campaigns, "campaign")));

  // Reachability
  const reach = s.reachability.map((r) => ({ label: r.label, count: r.count, share: r.share, key: r.level, filter: { reachability: r.level } }));
  const reachEl = h("div", { class: "chart" });
  body.append(card("Reachability", { id: "reachability", file, csv: () => [["level", "label", "count", "share"], ...s.reachability.map((r) => [r.level, r.label, r.count, r.share])] },
    allZero(reach) ? emptyState("No contacts to count") : reachEl, distributionTable(reach, link)));
  if (!allZero(reach)) donutChart(reachEl, reach, reach.map((r) => COLORS.reach[r.key] || "#64748b"));

  // Website stats
  const w = s.website;
  const webEl = h("div", { class: "chart" });
  const webRow = (label, key, fmt) => h("tr", null, h("td", null, label), h("td", { class: "num" }, fmt(w.known[key])), h("td", { class: "num" }, fmt(w.anonymous[key])));
  body.append(card("Website activity: known vs anonymous", { id: "website", file, csv: () => [["group", "members", "active_members", "sessions", "sessions_per_member", "avg_session_secs", "bounces", "bounce_rate"], ...["known", "anonymous"].map((k) => [k, w[k].members, w[k].active_members, w[k].sessions, w[k].sessions_per_member, w[k].avg_session_secs, w[k].bounces, w[k].bounce_rate])] },
    w.known.sessions + w.anonymous.sessions === 0 ? emptyState("No sessions in this range", "Nobody in this view had a web session that started in the range.") : webEl,
    h("table", { class: "data compact" }, h("thead", null, h("tr", null, h("th", null, ""), h("th", { class: "num" }, "Known"), h("th", { class: "num" }, "Anonymous"))),
      h("tbody", null, webRow("Members", "members", fmtInt), webRow("Members with sessions", "active_members", fmtInt), webRow("Sessions", "sessions", fmtInt), webRow("Sessions per member", "sessions_per_member", fmtDec), webRow("Avg session duration", "avg_session_secs", fmtDuration), webRow("Bounce rate", "bounce_rate", fmtPct)))));
  if (w.known.sessions + w.anonymous.sessions > 0) websiteChart(webEl, w);

  // Distributions
  const distribution = (title, key, rows, color) => {
    const el = h("div", { class: "chart" });
    body.append(card(title, { id: key, file, csv: () => [["key", "label", "count", "share"], ...rows.map((r) => [r.key ?? "", r.label, r.count, r.share])] },
      allZero(rows) ? emptyState("Nothing to show", "No member in this view has a value here.") : el, distributionTable(rows, link)));
    if (!allZero(rows)) barChart(el, rows, { color });
  };
  distribution("Lifecycle stages", "stages", s.stages.map((r) => ({ key: r.stage, label: r.stage ?? "No stage", count: r.count, share: r.share, filter: r.stage == null ? { missing: "stage" } : { stage: r.stage } })), "#6366f1");
  distribution("Subscription status", "subscription", s.subscription.map((r) => ({ key: r.status, label: r.label, count: r.count, share: r.share, filter: { status: r.status } })), "#0ea5e9");
  distribution("Creation channel", "channels", s.sources.creation_channels.map((r) => ({ key: r.channel, label: r.label, count: r.count, share: r.share, filter: { channel: r.channel } })), "#14b8a6");
  distribution("First-touch source", "first_touch", s.sources.first_touch.map((r) => ({ key: r.source, label: r.label, count: r.count, share: r.share, filter: r.source == null ? { missing: "source" } : { source: r.source } })), "#f97316");
  distribution("Email service providers", "providers", s.email_providers.map((r) => ({ key: r.provider, label: r.label, count: r.count, share: r.share, filter: { provider: r.provider } })), "#8b5cf6");

  // Geography
  geography(body, ws, id, s, state, parts, link, file);
  body.append(h("p", { class: "muted wide freshness" }, `Computed ${fmtDateTime(s.computed_at, tz)} from current data · segment last changed ${fmtDateTime(segment.last_change, tz)}`));
}

function geography(body, ws, id, s, state, parts, link, file) {
  const geo = s.geography;
  const drill = (country, region) => (location.hash = href(parts, stateParams(state, { country, region })));
  const mapEl = h("div", { class: "chart map" });
  const countries = geo.countries.map((c) => ({ key: c.country, label: c.name, count: c.count, share: c.share, filter: c.country ? { country: c.country } : { missing: "country" } }));
  const crumbs = h("p", { class: "crumbs" },
    geo.drill_country ? h("a", { href: href(parts, stateParams(state)) }, "All countries") : h("strong", null, "All countries"),
    geo.drill_country ? [" › ", geo.drill_region ? h("a", { href: href(parts, stateParams(state, { country: geo.drill_country })) }, countryName(geo)) : h("strong", null, countryName(geo))] : null,
    geo.drill_region ? [" › ", h("strong", null, geo.drill_region)] : null);
  const table = (rows, kind, onPick) => h("table", { class: "data compact", "data-geo": kind }, h("thead", null, h("tr", null, h("th", null, kind === "countries" ? "Country" : kind === "regions" ? "Region" : "City"), h("th", { class: "num" }, "Contacts"), h("th", { class: "num" }, "Share"))),
    h("tbody", null, rows.filter((r) => r.count > 0 || kind === "countries").filter((r) => r.count > 0).map((r) => h("tr", null,
      h("td", null, onPick && r.key ? h("button", { type: "button", class: "link", onclick: () => onPick(r) }, r.label) : r.label, r.key && kind === "countries" ? h("span", { class: "muted" }, ` ${r.key}`) : null),
      h("td", { class: "num" }, r.filter ? link(r.filter, r.count) : fmtInt(r.count)),
      h("td", { class: "num muted" }, fmtPct(r.share))))));
  const tables = h("div", { class: "geo-tables" });
  if (!geo.drill_country) {
    tables.append(table(countries, "countries", (r) => drill(r.key)));
  } else {
    const regions = geo.regions.map((r) => ({ key: r.name, label: r.name ?? "Unknown region", count: r.count, share: r.share, filter: r.name ? { country: geo.drill_country, region: r.name } : null }));
    const cities = geo.cities.map((r) => ({ key: r.name, label: r.name ?? "Unknown city", count: r.count, share: r.share, filter: r.name ? { country: geo.drill_country, ...(geo.drill_region ? { region: geo.drill_region } : {}), city: r.name } : null }));
    tables.append(
      h("div", null, h("h3", null, "Regions"), regions.length ? table(regions, "regions", (r) => drill(geo.drill_country, r.key)) : h("p", { class: "muted" }, "No region known.")),
      h("div", null, h("h3", null, geo.drill_region ? `Cities in ${geo.drill_region}` : "Cities"), cities.length ? table(cities, "cities") : h("p", { class: "muted" }, "No city known.")));
  }
  const csv = () => geo.drill_country
    ? [["level", "name", "count", "share"], ...geo.regions.map((r) => ["region", r.name, r.count, r.share]), ...geo.cities.map((r) => ["city", r.name, r.count, r.share])]
    : [["country", "name", "count", "share"], ...geo.countries.map((c) => [c.country ?? "", c.name, c.count, c.share])];
  body.append(card("Geography", { id: "geography", wide: true, file, csv }, crumbs,
    h("div", { class: "geo" }, allZero(countries) ? emptyState("No contacts to place on the map") : mapEl, tables)));
  if (!allZero(countries)) worldMap(mapEl, geo.countries, (code) => drill(code)).catch((err) => mapEl.replaceWith(h("p", { class: "error-text" }, `The map could not load: ${err.message}`)));
}

function countryName(geo) {
  const c = geo.countries.find((x) => x.country === geo.drill_country);
  return c ? c.name : geo.drill_country;
}

// ---------------------------------------------------------------- contacts

/// `no_consent` → "No consent": the API's stable keys, readable.
function keyLabel(key) {
  if (!key) return DASH;
  const text = String(key).replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const FILTERS = ["stage", "country", "region", "city", "status", "reachability", "provider", "channel", "source", "missing"];

async function contacts(ws, id, params, stale) {
  const state = summaryState(params);
  const filters = {};
  for (const f of FILTERS) if (params.get(f)) filters[f] = params.get(f);
  const cursor = params.get("cursor") || "";
  const [segment, settings] = await Promise.all([get(wsPath(ws, `/segments/${encodeURIComponent(id)}`)), get(wsPath(ws, "/settings"))]);
  const page = await get(wsPath(ws, `/segments/${encodeURIComponent(id)}/contacts${query({ view: state.view, ...filters, cursor, limit: 50 })}`));
  const tz = state.tz || settings.time_zone;
  if (stale()) return;
  const parts = ["w", ws, "s", id, "contacts"];
  const base = { ...stateParams(state), ...filters };
  const exportHref = (format) => wsPath(ws, `/segments/${encodeURIComponent(id)}/export${query({ format, view: state.view, ...filters })}`);
  const chips = Object.entries(filters).map(([k, v]) => h("span", { class: "chip" }, k === "missing" ? `no ${v}` : `${k}: ${v}`));
  const rows = page.items.map((c) => h("tr", null,
    h("td", { class: "num muted" }, c.id),
    h("td", null, [c.first_name, c.last_name].filter(Boolean).join(" ") || DASH),
    h("td", { class: "wrap-any" }, c.email || c.external_id || h("span", { class: "muted" }, "anonymous visitor")),
    h("td", { "data-kind": c.kind }, keyLabel(c.kind)),
    h("td", null, c.stage || DASH),
    h("td", null, [c.city, c.region, c.country].filter(Boolean).join(", ") || DASH),
    h("td", { "data-status": c.subscription_status }, keyLabel(c.subscription_status)),
    h("td", { "data-reachability": c.reachability }, keyLabel(c.reachability)),
    h("td", { class: "num" }, fmtInt(c.sessions)),
    h("td", { class: "nowrap" }, fmtDateTime(c.created_at, tz))));
  const history = (params.get("prev") || "").split(",").filter((x) => x !== "");
  replace(app, 
    h("div", { class: "page-head" },
      h("div", null, h("p", { class: "crumbs" }, h("a", { href: href(["w", ws, "s", id], stateParams(state)) }, segment.name), " › contacts"),
        h("h1", null, `${VIEWS.find((v) => v[0] === state.view)?.[1] || "All"} contacts`), h("p", null, chips.length ? chips : h("span", { class: "muted" }, "every member"))),
      h("div", { class: "actions" },
        h("a", { class: "button", id: "export-csv", href: exportHref("csv"), download: `${fileBase(segment)}-contacts.csv` }, "Export CSV"),
        h("a", { class: "button", id: "export-ndjson", href: exportHref("ndjson"), download: `${fileBase(segment)}-contacts.ndjson` }, "Export NDJSON"))),
    h("div", { class: "card" },
      page.items.length === 0 ? emptyState("No contact matches", "Nobody in this segment and view has this value right now.") :
        h("div", { class: "table-wrap" }, h("table", { class: "data", id: "contacts" },
          h("thead", null, h("tr", null, ["#", "Name", "Email / id", "Type", "Stage", "Location", "Subscription", "Reachability", "Sessions", `Created (${tz})`].map((t, i) => h("th", { class: i === 0 || i === 8 ? "num" : "" }, t)))),
          h("tbody", null, rows))),
      h("div", { class: "pager" },
        cursor ? h("a", { class: "button", href: href(parts, { ...base, cursor: history[history.length - 1] || undefined, prev: history.slice(0, -1).join(",") || undefined }) }, "← Previous") : null,
        h("span", { class: "muted" }, `${fmtInt(page.items.length)} shown`),
        page.next_cursor ? h("a", { class: "button", id: "next-page", href: href(parts, { ...base, cursor: page.next_cursor, prev: [...history, cursor].join(",") }) }, "Next →") : null)));
}

// ---------------------------------------------------------------- editor

function byteOffsetToIndex(text, offset) {
  const bytes = new TextEncoder().encode(text);
  return new TextDecoder().decode(bytes.slice(0, offset)).length;
}

async function editor(ws, id, stale) {
  const segment = id == null ? null : await get(wsPath(ws, `/segments/${encodeURIComponent(id)}`));
  if (stale()) return;
  const isStatic = segment && segment.type === "static";
  const name = h("input", { id: "seg-name", name: "name", value: segment ? segment.name : "", required: true, maxlength: 200 });
  const description = h("input", { id: "seg-description", name: "description", value: segment ? segment.description : "" });
  const criteria = h("textarea", { id: "criteria", name: "criteria", rows: 5, spellcheck: "false", autocapitalize: "off", autocomplete: "off" });
  criteria.value = segment && segment.criteria_text ? segment.criteria_text : "";
  const status = h("div", { id: "live-count", class: "live", "aria-live": "polite" });
  const errorView = h("div", { id: "criteria-error", class: "criteria-error", hidden: true });
  const sample = h("div", { class: "sample" });
  const message = h("div", { id: "editor-message", role: "alert" });
  let timer = null;
  let seq = 0;
  const test = async () => {
    const text = criteria.value;
    const mine = ++seq;
    if (!text.trim()) {
      status.textContent = "Type criteria to see how many contacts they select.";
      errorView.hidden = true;
      clear(sample);
      return;
    }
    status.textContent = "Counting…";
    try {
      const r = await api("POST", wsPath(ws, "/segments/test"), { criteria_text: text });
      if (mine !== seq) return;
      errorView.hidden = true;
      criteria.classList.remove("invalid");
      replace(status, h("strong", { id: "live-total" }, fmtInt(r.members.total)), ` ${r.members.total === 1 ? "contact matches" : "contacts match"} now (${fmtInt(r.members.known)} known, ${fmtInt(r.members.anonymous)} anonymous)`);
      replace(sample, r.sample.length ? [h("h3", null, "A few of them"), h("ul", { class: "plain" }, r.sample.slice(0, 8).map((c) => h("li", null, c.email || c.external_id || `anonymous visitor #${c.id}`)))] : []);
    } catch (err) {
      if (mine !== seq) return;
      status.textContent = "";
      clear(sample);
      showCriteriaError(err, text);
    }
  };
  const showCriteriaError = (err, text) => {
    criteria.classList.add("invalid");
    clear(errorView);
    errorView.hidden = false;
    const loc = err.details && err.details.location;
    if (loc && loc.offset != null) {
      const at = byteOffsetToIndex(text, loc.offset);
      const lineStart = text.lastIndexOf("\n", at - 1) + 1;
      const lineEnd = text.indexOf("\n", at) === -1 ? text.length : text.indexOf("\n", at);
      const line = text.slice(lineStart, lineEnd);
      const col = at - lineStart;
      errorView.append(
        h("div", { class: "where" }, `Line ${loc.line}, column ${loc.column}`),
        h("pre", { class: "snippet" }, line.slice(0, col), h("mark", { class: "at" }, line.slice(col, col + 1) || " "), line.slice(col + 1), "\n", " ".repeat(col) + "^"),
        h("p", { class: "error-text" }, err.message));
      criteria.setAttribute("aria-invalid", "true");
    } else {
      errorView.append(h("p", { class: "error-text" }, err.message));
    }
    if (err.details && Array.isArray(err.details.hints) && err.details.hints.length) {
      errorView.append(h("p", { class: "muted" }, err.details.hints.slice(0, 3).join(" · ")));
    }
  };
  criteria.addEventListener("input", () => {
    criteria.removeAttribute("aria-invalid");
    clearTimeout(timer);
    timer = setTimeout(test, 300);
  });
  const save = async (e) => {
    e.preventDefault();
    clear(message);
    const body = { name: name.value, description: description.value };
    if (!isStatic) body.criteria_text = criteria.value;
    try {
      const saved = segment
        ? await api("PATCH", wsPath(ws, `/segments/${segment.id}`), body)
        : await api("POST", wsPath(ws, "/segments"), body);
      location.hash = href(["w", ws, "s", saved.id]);
    } catch (err) {
      if (err.details && err.details.field === "criteria_text") showCriteriaError(err, criteria.value);
      message.append(h("p", { class: "error-text" }, err.message));
    }
  };
  const refused = (items, text) => message.append(h("div", { class: "card error-state", id: "delete-refused" },
    h("p", null, text || "This segment cannot be deleted while something references it:"),
    items ? h("ul", null, items.map((r) => h("li", null, r))) : null,
    text ? null : h("p", { class: "muted" }, "Edit or delete those first.")));
  const remove = async () => {
    clear(message);
    // What the server would refuse is said before asking to confirm: the
    // segment's references are known (the server still checks them).
    const holders = segment.referenced_by.map((r) => `segment #${r.id} "${r.name}"`);
    for (const [kind, n] of [["journey", segment.journeys], ["campaign", segment.campaigns]]) {
      if (!n) continue;
      const all = await get(wsPath(ws, `/${kind}s`));
      holders.push(...all.items.filter((a) => a.segments.some((r) => r.id === segment.id)).map((a) => `${kind} #${a.id} "${a.name}"`));
    }
    if (holders.length) return refused(holders);
    if (!window.confirm(`Delete the segment “${segment.name}”? Its history goes with it.`)) return;
    try {
      await api("DELETE", wsPath(ws, `/segments/${segment.id}`));
      location.hash = href(["w", ws]);
    } catch (err) {
      refused(err.details && err.details.referrers, err.status === 409 ? null : err.message);
    }
  };
  replace(app, 
    h("p", { class: "crumbs" }, h("a", { href: href(["w", ws]) }, "Segments"), " › ", segment ? h("a", { href: href(["w", ws, "s", segment.id]) }, segment.name) : "new", segment ? " › edit" : null),
    h("h1", null, segment ? (isStatic ? "Rename list" : "Edit segment") : "New segment"),
    h("form", { class: "card editor", onsubmit: save },
      h("label", { for: "seg-name" }, "Name"), name,
      h("label", { for: "seg-description" }, "Description ", h("span", { class: "muted" }, "(optional)")), description,
      isStatic ? h("p", { class: "muted" }, "A static list has members, not criteria: add and remove them through the API (POST …/members).") : [
        h("label", { for: "criteria" }, "Criteria"), criteria, errorView, status,
        h("details", { class: "help" }, h("summary", null, "Criteria syntax"),
          h("ul", null, [
            'country = "FR" AND stage >= "Marketing qualified"',
            'visited "/pricing" at least 2 times in last 14 days',
            "email opened in last 30 days OR email clicked in last 30 days",
            'member of "Hot leads" AND NOT unsubscribed = true',
            "contact is anonymous AND had at least 1 session in last 30 days",
          ].map((x) => h("li", null, h("code", null, x))))),
      ],
      h("div", { class: "form-actions" },
        h("button", { class: "primary", type: "submit", id: "save" }, "Save"),
        h("a", { class: "button", href: segment ? href(["w", ws, "s", segment.id]) : href(["w", ws]) }, "Cancel"),
        segment ? h("button", { type: "button", class: "danger", id: "delete", onclick: remove }, "Delete") : null),
      message),
    isStatic ? null : sample);
  if (!isStatic) test();
}

// ---------------------------------------------------------------- compare

async function compare(ws, params, stale) {
  const state = summaryState(params);
  const asked = (params.get("ids") || "").split(",").filter((x) => x !== "");
  const ids = asked.slice(0, 4);
  const [list, settings] = await Promise.all([get(wsPath(ws, "/segments")), get(wsPath(ws, "/settings"))]);
  if (stale()) return;
  const parts = ["w", ws, "compare"];
  const picker = h("fieldset", { class: "picker" }, h("legend", null, "Segments to compare (2 to 4)"),
    list.items.map((s) => {
      const picked = ids.includes(String(s.id));
      // Four at most: the other boxes are disabled rather than a tick silently dropping one.
      return h("label", { class: "pick" }, h("input", { type: "checkbox", value: s.id, checked: picked, disabled: !picked && ids.length >= 4, onchange: (e) => {
        let next = ids.filter((x) => x !== String(s.id));
        if (e.target.checked) next = [...ids, String(s.id)];
        location.hash = href(parts, stateParams(state, { ids: next.join(",") || undefined }));
      } }), " ", s.name);
    }),
    ids.length >= 4 ? h("p", { class: "muted picker-note", id: "compare-limit" }, asked.length > 4
      ? `Only the first four of the ${asked.length} segments in the link are compared; untick one to pick another.`
      : "Four segments picked, the most a comparison shows: untick one to pick another.") : null);
  const body = h("div", { class: "compare-body" });
  replace(app, h("h1", null, "Compare segments"), controls(ws, parts, state, settings, { extra: () => ({ ids: ids.join(",") || undefined }) }), h("div", { class: "card" }, picker), body);
  if (ids.length < 2) {
    body.append(emptyState("Pick two to four segments", "Tick segments above; pick “All contacts” to compare a segment with everyone."));
    return;
  }
  const r = await get(wsPath(ws, `/compare${query({ segments: ids.join(","), ...summaryQuery(state, false) })}`));
  if (stale()) return;
  const items = r.items;
  const row = (label, fn) => h("tr", null, h("th", { scope: "row" }, label), items.map((s) => h("td", { class: "num" }, fn(s))));
  body.append(h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, "Main figures"),
    h("div", { class: "card-tools" }, h("button", { type: "button", class: "small", onclick: () => download("compare.json", JSON.stringify(r, null, 2), "application/json") }, "JSON"))),
  h("div", { class: "table-wrap" }, h("table", { class: "data", id: "compare-table" },
    h("thead", null, h("tr", null, h("th", null, ""), items.map((s) => h("th", { class: "num" }, h("a", { href: href(["w", ws, "s", s.segment.id], stateParams(state)) }, s.segment.name))))),
    h("tbody", null,
      row("Known contacts", (s) => fmtInt(s.overall.known)),
      row("Anonymous contacts", (s) => fmtInt(s.overall.anonymous)),
      row("Total contacts", (s) => fmtInt(s.overall.total)),
      row("Sessions", (s) => fmtInt(s.overall.sessions)),
      row("Avg session duration", (s) => fmtDuration(s.overall.avg_session_secs)),
      row("Bounce rate", (s) => fmtPct(s.overall.bounce_rate)),
      row("Added in range", (s) => fmtInt(s.growth.added)),
      row("Removed in range", (s) => fmtInt(s.growth.removed)),
      row("Net change", (s) => fmtSigned(s.growth.net)),
      row("Opted in", (s) => `${fmtInt(s.associated.opted_in.count)} (${fmtPct(s.associated.opted_in.share)})`),
      row("Bounced", (s) => `${fmtInt(s.associated.bounced.count)} (${fmtPct(s.associated.bounced.share)})`),
      row("Unsubscribed", (s) => `${fmtInt(s.associated.unsubscribed.count)} (${fmtPct(s.associated.unsubscribed.share)})`),
      row("Journeys / campaigns", (s) => `${fmtInt(s.associated.journeys.total)} / ${fmtInt(s.associated.campaigns.total)}`))))));
  const grid = h("div", { class: "grid" });
  body.append(grid);
  const dist = (title, pick, label, limit) => {
    // Categories by key, not position: each segment orders its countries by count.
    const maps = items.map((s) => new Map(pick(s).map((r) => [label(r), r])));
    let cats = [...new Set(items.flatMap((s) => pick(s).map(label)))];
    if (limit) {
      const total = (c) => maps.reduce((n, m) => n + (m.get(c)?.count || 0), 0);
      cats = cats.filter((c) => total(c) > 0).sort((a, b) => total(b) - total(a)).slice(0, limit);
    }
    const el = h("div", { class: "chart" });
    grid.append(h("section", { class: "card block" }, h("div", { class: "card-head" }, h("h2", null, title), h("span", { class: "muted" }, "share of each segment")), el));
    groupedShares(el, cats, items.map((s, i) => ({ name: s.segment.name, shares: cats.map((c) => maps[i].get(c)?.share ?? 0), counts: cats.map((c) => maps[i].get(c)?.count ?? 0) })));
  };
  dist("Reachability", (s) => s.reachability, (r) => r.label);
  dist("Lifecycle stages", (s) => s.stages, (r) => r.stage ?? "No stage");
  dist("Email service providers", (s) => s.email_providers, (r) => r.label, 8);
  dist("Top countries", (s) => s.geography.countries, (r) => r.name, 8);
  dist("First-touch source", (s) => s.sources.first_touch, (r) => r.label);
  dist("Creation channel", (s) => s.sources.creation_channels, (r) => r.label);
}
