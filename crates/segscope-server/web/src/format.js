// Number, duration and date formatting: thousands separators, `2m 31s`,
// `—` for "no data" (null), never NaN.
const integer = new Intl.NumberFormat("en-US");
const oneDecimal = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const twoDecimals = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const compactFmt = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

export const DASH = "—";
export const fmtInt = (n) => (n == null ? DASH : integer.format(n));
// `1 contact`, `2 contacts`, `1,234 contacts`.
export const fmtCount = (n, one, many) => `${fmtInt(n)} ${n === 1 ? one : many}`;
export const fmtDec = (n) => (n == null ? DASH : twoDecimals.format(n));
export const fmtCompact = (n) => (n == null ? DASH : Math.abs(n) < 10000 ? integer.format(n) : compactFmt.format(n));
export function fmtPct(share) {
  if (share == null) return DASH;
  const pct = share * 100;
  if (pct > 0 && pct < 0.1) return "<0.1%";
  return `${oneDecimal.format(pct)}%`;
}
export function fmtSigned(n) {
  if (n == null) return DASH;
  if (n > 0) return `+${integer.format(n)}`;
  if (n < 0) return `−${integer.format(-n)}`;
  return "0";
}
export function fmtDuration(secs) {
  if (secs == null) return DASH;
  const s = Math.round(secs);
  if (s < 60) return `${s}s`;
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (hours) return minutes ? `${hours}h ${minutes}m` : `${hours}h`;
  return rest ? `${minutes}m ${rest}s` : `${minutes}m`;
}
export function fmtDateTime(iso, tz) {
  if (!iso) return DASH;
  try {
    return new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short", timeZone: tz || undefined }).format(new Date(iso));
  } catch {
    return iso;
  }
}
export function fmtDate(iso, tz) {
  if (!iso) return DASH;
  try {
    return new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeZone: tz || undefined }).format(new Date(iso));
  } catch {
    return iso;
  }
}
