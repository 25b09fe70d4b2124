// Browser tests of the dashboard, in Debian's headless Chromium driven by
// playwright-core, against a real `segscope serve` on the demo workspace.
//
//   node tests/dashboard.mjs <segscope binary> <screenshot dir>
//
// It builds the demo into a fresh data directory, serves it on a free
// loopback port, signs in with the admin token the server prints, and then:
// - opens the summary page of every demo segment and checks that every
//   number on it (stat cards, consent flags, distributions, website table,
//   geography) equals the API's summary for the same view, range and zone;
//   switches the view and the range and checks again;
// - follows a count to its contact list, pages it, and exports it (CSV);
// - opens the editor, types broken criteria and reads the positioned error,
//   then types valid criteria and reads the live count;
// - opens the compare page;
// - puts `<script>` and `"><img onerror>` into a contact, a segment, a
//   journey and a visited URL and checks they render as text everywhere;
// - writes screenshots (summary at 1440 and 390 px, list, editor, compare,
//   contacts, empty states) to the screenshot directory.
// Exit code 0 when every check passed; each failure is printed.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [bin, shots = "target/screenshots"] = process.argv.slice(2);
if (!bin) {
  console.error("usage: node tests/dashboard.mjs <segscope binary> <screenshot dir>");
  process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
mkdirSync(shots, { recursive: true });

let checks = 0;
const failures = [];
function check(ok, what) {
  checks++;
  if (!ok) {
    failures.push(what);
    console.log(`FAIL: ${what}`);
  }
}
function eq(actual, expected, what) {
  check(actual === expected, `${what}: shown ${JSON.stringify(actual)}, API ${JSON.stringify(expected)}`);
}

// The dashboard's own number formats, to compare text with API numbers.
const integer = new Intl.NumberFormat("en-US");
const fmtInt = (n) => (n == null ? "—" : integer.format(n));
const oneDecimal = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const fmtPct = (share) => (share == null ? "—" : share * 100 > 0 && share * 100 < 0.1 ? "<0.1%" : `${oneDecimal.format(share * 100)}%`);
function fmtDuration(secs) {
  if (secs == null) return "—";
  const s = Math.round(secs);
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) return m ? `${h}h ${m}m` : `${h}h`;
  return s % 60 ? `${m}m ${s % 60}s` : `${m}m`;
}

const data = mkdtempSync(join(tmpdir(), "segscope-dashboard-"));
let server;
let browser;
try {
  const built = execFileSync(bin, ["--data", data, "demo", "--no-serve"], { encoding: "utf8" });
  const secret = built.match(/\b(sk_[0-9a-f]+)/)?.[1];
  if (!secret) throw new Error(`no secret key in the demo's output:\n${built}`);

  const { url, admin } = await startServer(data);
  const api = async (path, init = {}) => {
    const r = await fetch(url + path, { ...init, headers: { Authorization: `Bearer ${secret}`, "Content-Type": "application/json", ...(init.headers || {}) } });
    const text = await r.text();
    if (!r.ok) throw new Error(`${init.method || "GET"} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const WS = "/api/v1/workspaces/demo";

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true, locale: "en-GB", timezoneId: "Europe/Paris" });
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (err) => pageErrors.push(err.message));
  let confirms = 0;
  page.on("dialog", (d) => {
    if (d.type() === "confirm") {
      confirms += 1;
      return d.accept();
    }
    pageErrors.push(`unexpected ${d.type()} dialog: ${d.message()}`);
    return d.dismiss();
  });
  page.on("console", (m) => {
    // A refused request the test provokes (401, 404, 409, 422) is logged
    // by the browser as a failed resource; anything else is a bug.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) pageErrors.push(`console: ${m.text()}`);
  });

  // Sign in: a wrong token is refused readably, the right one opens the list.
  await page.goto(url + "/");
  await page.waitForLoadState("networkidle");
  await page.fill("#token", "adm_wrong");
  await page.click("button[type=submit]");
  await page.waitForSelector(".signin .error-text:not(:empty)", { timeout: 60000 });
  check((await page.textContent(".signin .error-text")).length > 5, "a wrong admin token shows an error");
  await page.screenshot({ path: join(shots, "signin-error.png") });
  await page.fill("#token", admin);
  await page.click("button[type=submit]");
  await page.waitForSelector("#segment-list tbody tr");
  await page.waitForFunction(() => [...document.querySelectorAll("[data-change]")].every((td) => td.textContent !== "…"));

  // Segment list: every row's counts equal the API's.
  const segments = (await api(`${WS}/segments`)).items;
  for (const s of segments) {
    const row = page.locator("#segment-list tbody tr", { has: page.locator(`a[href^="#/w/demo/s/${s.id}?"], a[href="#/w/demo/s/${s.id}"]`) }).first();
    const cells = await row.locator("td").allTextContents();
    eq(cells[1], fmtInt(s.members.known), `list: known of "${s.name}"`);
    eq(cells[3], fmtInt(s.members.total), `list: total of "${s.name}"`);
  }
  await page.screenshot({ path: join(shots, "segment-list.png"), fullPage: true });
  await page.fill("input[type=search]", "engaged");
  const visible = await page.locator("#segment-list tbody tr:visible").count();
  check(visible >= 1 && visible < segments.length, `search filters the list (${visible} of ${segments.length} rows shown)`);

  // Every segment's summary page, view All, last 30 days.
  for (const s of segments) {
    await compareSummary(page, url, api, WS, s, { view: "all", range: "last_30_days" });
  }
  // View and range switches, through the controls.
  const engaged = segments.find((s) => s.name === "Engaged visitors") || segments[1];
  await openSummary(page, url, engaged.id, "");
  await unready(page);
  await page.click('[data-view="known"]');
  await page.waitForFunction(() => location.hash.includes("view=known"));
  await waitReady(page);
  await checkShown(page, api, WS, engaged, { view: "known", range: "last_30_days" });
  await unready(page);
  await page.selectOption('select[name="range"]', "last_90_days");
  await page.waitForFunction(() => location.hash.includes("range=last_90_days"));
  await waitReady(page);
  await checkShown(page, api, WS, engaged, { view: "known", range: "last_90_days" });
  await unready(page);
  await page.click('[data-view="anonymous"]');
  await page.waitForFunction(() => location.hash.includes("view=anonymous"));
  await waitReady(page);
  await checkShown(page, api, WS, engaged, { view: "anonymous", range: "last_90_days" });
  await unready(page);
  await page.selectOption('select[name="tz"]', "America/New_York");
  await page.waitForFunction(() => location.hash.includes("tz=America"));
  await waitReady(page);
  await checkShown(page, api, WS, engaged, { view: "anonymous", range: "last_90_days", tz: "America/New_York" });
  // A bookmarked URL restores the state.
  await unready(page);
  await page.reload();
  await waitReady(page);
  check((await page.getAttribute('[data-view="anonymous"]', "aria-pressed")) === "true", "reloading keeps the view");
  check((await page.inputValue('select[name="range"]')) === "last_90_days", "reloading keeps the range");

  // Screenshots of the richest summary, wide and narrow.
  // The richest page: the biggest segment with both known and anonymous members.
  const mixed = segments.filter((s) => !s.system && s.members.known > 0 && s.members.anonymous > 0);
  const biggest = (mixed.length ? mixed : segments).sort((a, b) => b.members.total - a.members.total)[0];
  await openSummary(page, url, biggest.id, "");
  await page.waitForTimeout(700); // chart animations
  await page.screenshot({ path: join(shots, "summary-1440.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await openSummary(page, url, biggest.id, "");
  await page.waitForTimeout(700);
  await page.screenshot({ path: join(shots, "summary-390.png"), fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 1, `at 390 px the page does not scroll sideways (overflow ${overflow}px)`);
  await page.setViewportSize({ width: 1440, height: 900 });

  // Geography drill-down: country → regions and cities.
  await openSummary(page, url, biggest.id, "");
  const firstCountry = page.locator('[data-geo="countries"] tbody tr button.link').first();
  if (await firstCountry.count()) {
    await unready(page);
    await firstCountry.click();
    await page.waitForFunction(() => location.hash.includes("country="));
    await waitReady(page);
    const country = new URLSearchParams(page.url().split("?")[1]).get("country");
    const api30 = await api(`${WS}/segments/${biggest.id}/summary?view=all&range=last_30_days&country=${country}`);
    const shownRegions = await page.locator('[data-geo="regions"] tbody tr').count();
    eq(shownRegions, api30.geography.regions.filter((r) => r.count > 0).length, `drill-down: regions of ${country}`);
    await page.screenshot({ path: join(shots, "summary-drilldown.png"), fullPage: true });
  } else {
    check(false, "the geography table of the biggest segment has countries to drill into");
  }

  // A count links to its contacts; the list pages; the export downloads.
  await openSummary(page, url, biggest.id, "");
  const knownCount = Number((await page.textContent('[data-stat="known"] .stat-value')).replace(/,/g, ""));
  await page.click('[data-stat="known"] a.count');
  await page.waitForSelector("#contacts tbody tr, .empty");
  const firstPage = await page.locator("#contacts tbody tr").count();
  eq(firstPage, Math.min(50, knownCount), "contacts: first page of the known contacts");
  const kinds = await page.locator("#contacts tbody tr td:nth-child(4)").evaluateAll((tds) => tds.map((td) => td.dataset.kind));
  check(kinds.every((k) => k === "known"), "contacts behind the known count are all known");
  await page.screenshot({ path: join(shots, "contacts.png"), fullPage: true });
  if (knownCount > 50) {
    const firstId = await page.textContent("#contacts tbody tr td");
    await page.click("#next-page");
    await page.waitForFunction(() => location.hash.includes("cursor="));
    // The next page has been drawn when its first row is another contact.
    await page.waitForFunction((id) => {
      const cell = document.querySelector("#contacts tbody tr td");
      return cell && cell.textContent !== id;
    }, firstId);
    const second = await page.locator("#contacts tbody tr").count();
    eq(second, Math.min(50, knownCount - 50), "contacts: second page");
  }
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-csv")]);
  const csv = readFileSync(await download.path(), "utf8").trimEnd().split(/\r?\n/);
  check(/^id,/.test(csv[0]) && csv[0].includes("email"), `the CSV export has a header (${csv[0].slice(0, 80)})`);
  eq(csv.length - 1, knownCount, "CSV export rows = the known count");

  // A chart's CSV and the summary JSON download.
  await openSummary(page, url, biggest.id, "");
  const [stagesCsv] = await Promise.all([page.waitForEvent("download"), page.click('[data-csv="stages"]')]);
  const stageLines = readFileSync(await stagesCsv.path(), "utf8").trimEnd().split(/\r?\n/);
  check(stageLines[0] === "key,label,count,share" && stageLines.length > 2, `the stages chart downloads as CSV (${stageLines.slice(0, 2).join(" / ")})`);
  const [jsonDl] = await Promise.all([page.waitForEvent("download"), page.click("#download-json")]);
  const summaryJson = JSON.parse(readFileSync(await jsonDl.path(), "utf8"));
  check(summaryJson.overall && summaryJson.growth && summaryJson.geography, "the summary downloads as JSON");

  // The editor: an error at the right place, then a live count, then save.
  await page.goto(url + "/#/w/demo/new");
  await page.waitForSelector("#criteria");
  await page.fill("#seg-name", "Browser test segment");
  await page.fill("#criteria", 'country = "FR" AND stage >>= "Lead"');
  await page.waitForSelector("#criteria-error:not([hidden]) .where");
  const where = await page.textContent("#criteria-error .where");
  check(/Line 1, column 2[0-9]/.test(where), `the criteria error names its position (${where})`);
  check((await page.textContent("#criteria-error mark.at")).trim() === ">", "the error marks the offending character");
  await page.screenshot({ path: join(shots, "editor-error.png"), fullPage: true });
  await page.fill("#criteria", 'country = "FR"');
  await page.waitForSelector("#live-total");
  const tested = await api(`${WS}/segments/test`, { method: "POST", body: JSON.stringify({ criteria_text: 'country = "FR"' }) });
  eq(await page.textContent("#live-total"), fmtInt(tested.members.total), "the live count");
  await page.waitForSelector(".sample h3");
  check(!(await page.textContent("main")).includes("[object"), "the editor shows no '[object …]' text");
  await page.screenshot({ path: join(shots, "editor.png"), fullPage: true });
  await page.click("#save");
  await page.waitForFunction(() => /#\/w\/demo\/s\/\d+$/.test(location.hash));
  await waitReady(page);
  eq(await page.textContent("#segment-name"), "Browser test segment", "the saved segment opens");
  const savedId = Number(page.url().match(/s\/(\d+)$/)[1]);
  // Deleting a referenced segment is refused with its referrers, before any
  // confirmation is asked for (a dialog here fails the check), and nothing is deleted.
  const referenced = segments.find((s) => s.name === "Hot leads");
  if (referenced) {
    const confirmsBefore = confirms;
    await page.goto(url + `/#/w/demo/s/${referenced.id}/edit`);
    await page.waitForSelector("#delete");
    await page.click("#delete");
    await page.waitForSelector("#delete-refused li");
    const referrers = await page.locator("#delete-refused li").allTextContents();
    const expected = referenced.referenced_by.map((r) => `segment #${r.id} "${r.name}"`);
    check(referrers.length > 0 && expected.every((r) => referrers.includes(r)) && referrers.every((r) => /^(segment|journey|campaign) #\d+ "/.test(r)), `deleting "Hot leads" lists its referrers (${referrers.join("; ")})`);
    check(confirms === confirmsBefore, "a refused delete asks for no confirmation first");
    check((await api(`${WS}/segments`)).items.some((s) => s.id === referenced.id), "the referenced segment is still there");
    await page.screenshot({ path: join(shots, "editor-delete-refused.png"), fullPage: true });
  }
  // A static list's editor renames it, with no criteria box and no stray text.
  const list = segments.find((s) => s.type === "static");
  if (list) {
    await page.goto(url + `/#/w/demo/s/${list.id}/edit`);
    await page.waitForSelector("#seg-name");
    const text = await page.textContent("main");
    check(!/\bnull\b|\[object/.test(text) && (await page.locator("#criteria").count()) === 0, `the static list editor is clean (${text.slice(-80)})`);
  }
  // Deleting our own segment works.
  await page.goto(url + `/#/w/demo/s/${savedId}/edit`);
  await page.waitForSelector("#delete");
  await page.click("#delete");
  await page.waitForSelector("#segment-list");
  check(!(await api(`${WS}/segments`)).items.some((s) => s.id === savedId), "the segment was deleted");

  // Compare: two segments and all contacts.
  const pair = segments.filter((s) => !s.system).slice(0, 2);
  await page.goto(url + `/#/w/demo/compare?ids=${pair[0].id},${pair[1].id},0`);
  await page.waitForSelector("#compare-table");
  await page.waitForTimeout(700);
  const compared = await api(`${WS}/compare?segments=${pair[0].id},${pair[1].id},0&range=last_30_days`);
  const totals = await page.locator("#compare-table tbody tr:nth-child(3) td").allTextContents();
  eq(totals.join(" | "), compared.items.map((s) => fmtInt(s.overall.total)).join(" | "), "compare: total contacts");
  await page.screenshot({ path: join(shots, "compare.png"), fullPage: true });
  // At most four: with four picked the other boxes are disabled and the page says why; a link
  // with five compares the first four and says so (nothing is dropped without a word).
  const five = segments.filter((s) => !s.system).slice(0, 5).map((s) => s.id);
  check(five.length === 5, "the demo has five segments to compare");
  await page.goto(url + `/#/w/demo/compare?ids=${five.slice(0, 4).join(",")}`);
  await page.waitForSelector("#compare-table");
  eq(await page.locator(".picker input:checked").count(), 4, "compare: four boxes ticked");
  check((await page.locator(".picker input:not(:checked)").count()) > 0, "compare: some boxes are left unticked");
  eq(await page.locator(".picker input:not(:checked):not([disabled])").count(), 0, "compare: with four picked the other boxes are disabled");
  check((await page.textContent("#compare-limit")).includes("untick one to pick another"), "compare: the limit is explained");
  await page.goto(url + `/#/w/demo/compare?ids=${five.join(",")}`);
  await page.waitForSelector("#compare-table");
  await page.waitForFunction(() => document.querySelector("#compare-limit")?.textContent.includes("first four of the 5"));
  eq(await page.locator("#compare-table thead th a").count(), 4, "compare: a link with five compares the first four");
  await page.screenshot({ path: join(shots, "compare-limit.png") });

  // Empty states: a segment with nobody in it; a range with no sessions.
  const empty = await api(`${WS}/segments`, { method: "POST", body: JSON.stringify({ name: "Nobody at all", criteria_text: 'email = "nobody@nowhere.invalid"' }) });
  await openSummary(page, url, empty.id, "");
  check((await page.locator(".empty").count()) > 0, "an empty segment shows empty states");
  check((await page.locator("canvas").count()) === 0 || (await page.locator(".empty").count()) > 0, "no chart without data");
  await page.screenshot({ path: join(shots, "summary-empty.png"), fullPage: true });
  await openSummary(page, url, biggest.id, "?range=custom&from=2001-01-01&to=2001-01-31");
  const noSessions = await page.textContent('[data-stat="sessions"]');
  check(noSessions.includes("no sessions in this range"), `a range without sessions says so (${noSessions})`);
  // An API error is shown readably.
  await page.goto(url + "/#/w/demo/s/99999");
  await page.waitForSelector(".error-state");
  check((await page.textContent(".error-state")).includes("404"), "an unknown segment shows the API's 404");
  await page.screenshot({ path: join(shots, "error-state.png") });

  // XSS: hostile text in a contact, a segment, a journey and a URL.
  const evil = `<script>window.__xss=1</script>"><img src=x onerror="window.__xss=2">`;
  await api(`${WS}/imports/events`, {
    method: "POST",
    headers: { "Content-Type": "application/x-ndjson" },
    body: [
      JSON.stringify({ type: "contact", email: "xss@example.com", fields: { first_name: evil, last_name: evil, stage: "Lead", company: evil } }),
      JSON.stringify({ type: "page_view", visitor_id: "v-xss", timestamp: new Date(Date.now() - 3600e3).toISOString(), url: `https://example.com/${encodeURIComponent(evil)}?q=${evil}`, referrer: `https://evil.example/${evil}` }),
      JSON.stringify({ type: "identify", visitor_id: "v-xss", email: "xss@example.com", timestamp: new Date(Date.now() - 3500e3).toISOString() }),
    ].join("\n"),
  });
  const evilSegment = await api(`${WS}/segments`, { method: "POST", body: JSON.stringify({ name: evil, description: evil, criteria_text: 'email = "xss@example.com"' }) });
  await api(`${WS}/journeys`, { method: "POST", body: JSON.stringify({ name: evil, status: "active", segment_ids: [evilSegment.id] }) });
  for (const path of [`#/w/demo`, `#/w/demo/s/${evilSegment.id}`, `#/w/demo/s/${evilSegment.id}/contacts`, `#/w/demo/s/${evilSegment.id}/edit`, `#/w/demo/compare?ids=${evilSegment.id},0`]) {
    await page.goto(`${url}/${path}`);
    await page.waitForLoadState("networkidle");
    await page.waitForTimeout(300);
    const hit = await page.evaluate(() => window.__xss);
    check(hit === undefined, `no script ran on ${path} (window.__xss = ${hit})`);
    const injected = await page.evaluate(() => document.querySelectorAll("img[src=x], main script").length);
    eq(injected, 0, `no injected element on ${path}`);
    const text = await page.textContent("main");
    check(text.includes("<script>window.__xss=1</script>") || path.endsWith("/edit"), `the hostile text is shown as text on ${path}`);
  }
  await page.goto(`${url}/#/w/demo/s/${evilSegment.id}`);
  await waitReady(page);
  await page.screenshot({ path: join(shots, "xss-as-text.png"), fullPage: true });

  // The 390 px list and editor, for the record.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(url + "/#/w/demo");
  await page.waitForSelector("#segment-list tbody tr");
  await page.screenshot({ path: join(shots, "segment-list-390.png"), fullPage: true });

  for (const e of pageErrors) check(false, `no page error: ${e}`);
  console.log(`figure: dashboard browser checks: ${checks - failures.length} passed, ${failures.length} failed; screenshots in ${shots}`);
} catch (err) {
  failures.push(String(err && err.stack ? err.stack : err));
  console.log(`FAIL: ${err && err.stack ? err.stack : err}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once("exit", resolve));
    server.kill("SIGTERM");
    await exited;
  }
  rmSync(data, { recursive: true, force: true });
}
console.log(`${checks - failures.length} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);

// ------------------------------------------------------------------ helpers

function startServer(dir) {
  return new Promise((resolve, reject) => {
    server = spawn(bin, ["--data", dir, "serve", "--bind", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`the server did not start in 60 s:\n${out}\n${err}`)), 60000);
    server.stdout.on("data", (chunk) => {
      out += chunk;
      const url = out.match(/on (http:\/\/127\.0\.0\.1:\d+)\//)?.[1];
      const admin = out.match(/\b(adm_[0-9a-f]+)/)?.[1];
      if (url && admin) {
        clearTimeout(timer);
        resolve({ url, admin });
      }
    });
    server.stderr.on("data", (chunk) => (err += chunk));
    server.on("exit", (code) => reject(new Error(`the server exited (${code}):\n${out}\n${err}`)));
  });
}

async function openSummary(page, url, id, search) {
  await page.evaluate(() => delete document.body.dataset.ready);
  const target = `${url}/#/w/demo/s/${id}${search}`;
  // The same address again changes no hash and renders nothing: reload.
  if (page.url() === target) await page.reload();
  else await page.goto(target);
  await waitReady(page);
}

// The app sets `data-ready` when a summary page has drawn every block; the
// test removes it before each navigation or control change, so a wait can
// never be satisfied by the page before.
async function waitReady(page) {
  await page.waitForFunction(() => document.body.dataset.ready === "summary" && !document.querySelector(".grid > p.muted.pad"));
}

async function unready(page) {
  await page.evaluate(() => delete document.body.dataset.ready);
}

async function compareSummary(page, url, api, WS, segment, state) {
  await openSummary(page, url, segment.id, `?view=${state.view}&range=${state.range}`);
  await checkShown(page, api, WS, segment, state);
}

// Every number the summary page shows, against the API's summary.
async function checkShown(page, api, WS, segment, state) {
  const q = new URLSearchParams({ view: state.view, range: state.range });
  if (state.tz) q.set("tz", state.tz);
  const s = await api(`${WS}/segments/${segment.id}/summary?${q}`);
  const label = `"${segment.name}" (${q})`;
  const stat = async (key) => (await page.textContent(`[data-stat="${key}"] .stat-value`)).trim();
  eq(await stat("known"), fmtInt(s.overall.known), `${label} known`);
  eq(await stat("anonymous"), fmtInt(s.overall.anonymous), `${label} anonymous`);
  eq(await stat("total"), fmtInt(s.overall.total), `${label} total`);
  eq(await stat("sessions"), fmtInt(s.overall.sessions), `${label} sessions`);
  eq(await stat("duration"), fmtDuration(s.overall.avg_session_secs), `${label} avg session duration`);
  const legend = await page.textContent('[data-block="growth"] .legend-line');
  check(legend.includes(`${s.growth.added ? "+" : ""}${fmtInt(s.growth.added)} added`) && legend.includes(`${fmtInt(s.growth.total_at_start)} → ${fmtInt(s.growth.total_at_end)}`), `${label} growth legend (${legend})`);
  for (const k of ["opted_in", "bounced", "unsubscribed"]) {
    eq((await page.textContent(`[data-flag="${k}"] .stat-value`)).trim(), fmtInt(s.associated[k].count), `${label} ${k}`);
  }
  const journeys = await page.locator('[data-kind="journey"] .name').allTextContents();
  eq(journeys.join(" | "), s.associated.journeys.items.map((j) => j.name).join(" | "), `${label} journeys`);
  const table = async (block) => (await page.locator(`[data-block="${block}"] table.compact tbody tr`).evaluateAll((rows) => rows.map((r) => [...r.children].map((td) => td.textContent.trim()))));
  const same = async (block, rows, name) => {
    const shown = await table(block);
    eq(JSON.stringify(shown.map((r) => [r[0], r[1], r[2]])), JSON.stringify(rows.map((r) => [name(r), fmtInt(r.count), fmtPct(r.share)])), `${label} ${block} table`);
  };
  await same("reachability", s.reachability, (r) => r.label);
  await same("stages", s.stages, (r) => r.stage ?? "No stage");
  await same("subscription", s.subscription, (r) => r.label);
  await same("channels", s.sources.creation_channels, (r) => r.label);
  await same("first_touch", s.sources.first_touch, (r) => r.label);
  await same("providers", s.email_providers, (r) => r.label);
  const web = await table("website");
  eq(JSON.stringify(web[2]), JSON.stringify(["Sessions", fmtInt(s.website.known.sessions), fmtInt(s.website.anonymous.sessions)]), `${label} website sessions`);
  eq(JSON.stringify(web[4]), JSON.stringify(["Avg session duration", fmtDuration(s.website.known.avg_session_secs), fmtDuration(s.website.anonymous.avg_session_secs)]), `${label} website durations`);
  const countries = await page.locator('[data-geo="countries"] tbody tr td:nth-child(2)').allTextContents();
  eq(countries.join(" "), s.geography.countries.filter((c) => c.count > 0).map((c) => fmtInt(c.count)).join(" "), `${label} countries`);
}
