// The URL is the state: `#/w/{ws}/s/{id}?view=known&range=last_30_days&tz=…`.
// A view can be bookmarked, shared and reloaded.
export const RANGES = [
  ["last_7_days", "Last 7 days"],
  ["last_30_days", "Last 30 days"],
  ["last_90_days", "Last 90 days"],
  ["this_month", "This month"],
  ["custom", "Custom…"],
];
export const VIEWS = [["all", "All"], ["known", "Known"], ["anonymous", "Anonymous"]];

export function currentRoute() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, search] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(search || "") };
}

export function href(parts, params) {
  const path = "#/" + parts.map((p) => encodeURIComponent(String(p))).join("/");
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v != null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/// The summary parameters of the URL, with defaults.
export function summaryState(params) {
  const range = params.get("range") || "last_30_days";
  return {
    view: params.get("view") || "all",
    range,
    from: params.get("from") || "",
    to: params.get("to") || "",
    tz: params.get("tz") || "",
    country: params.get("country") || "",
    region: params.get("region") || "",
  };
}

/// The same state as API query parameters.
export function summaryQuery(state, withDrill = true) {
  const q = { view: state.view, tz: state.tz || undefined };
  if (state.range === "custom") {
    q.from = state.from || undefined;
    q.to = state.to || undefined;
  } else {
    q.range = state.range;
  }
  if (withDrill) {
    q.country = state.country || undefined;
    q.region = state.region || undefined;
  }
  return q;
}

/// The state as URL parameters (defaults dropped to keep links short).
export function stateParams(state, extra = {}) {
  const p = {
    view: state.view !== "all" ? state.view : undefined,
    range: state.range !== "last_30_days" ? state.range : undefined,
    from: state.range === "custom" ? state.from : undefined,
    to: state.range === "custom" ? state.to : undefined,
    tz: state.tz || undefined,
  };
  return { ...p, ...extra };
}
