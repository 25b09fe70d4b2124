// The dashboard talks to the server only through the public JSON API
// (`/api/v1`), signed in by its session cookie. State-changing requests
// carry the session's CSRF token in `X-CSRF-Token`.
let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, body, text) {
    const error = body && body.error;
    super(error ? error.message : `HTTP ${status}: ${(text || "").slice(0, 200) || "no answer"}`);
    this.status = status;
    this.code = error ? error.code : "http";
    this.details = (error && error.details) || {};
  }
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, { error: { code: "network", message: `the server did not answer (${err.message})` } });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data, text);
  return data;
}

export const get = (path) => api("GET", path);
export const wsPath = (ws, rest = "") => `/api/v1/workspaces/${encodeURIComponent(ws)}${rest}`;

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
