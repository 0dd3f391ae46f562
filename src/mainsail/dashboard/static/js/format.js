// How figures are written on every page. `null` means nobody measured it (the API's contract).

export const DASH = "—";

export function rps(value) {
  if (value === null || value === undefined) return DASH;
  if (value === 0) return "0 rps";
  if (value < 0.01) return "<0.01 rps";
  return `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : Math.round(value)} rps`;
}

export function percent(fraction) {
  if (fraction === null || fraction === undefined) return DASH;
  if (fraction === 0) return "0%";
  const p = fraction * 100;
  if (p < 0.1) return "<0.1%";
  return `${p < 10 ? p.toFixed(1) : Math.round(p)}%`;
}

export function ms(value) {
  if (value === null || value === undefined) return DASH;
  if (value === 0) return "0 ms";
  if (value < 1) return `${value.toFixed(2)} ms`;
  if (value < 1000) return `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
  return `${(value / 1000).toFixed(2)} s`;
}

export function micros(value) {
  if (value === null || value === undefined) return DASH;
  return ms(value / 1000);
}

export function clock(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleTimeString([], { hour12: false });
}

export function dateTime(value) {
  if (value === null || value === undefined || value === "") return DASH;
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return DASH;
  const sign = seconds < 0 ? "-" : "";
  let rest = Math.abs(Math.round(seconds));
  const days = Math.floor(rest / 86400);
  rest -= days * 86400;
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const secs = rest - minutes * 60;
  if (days) return `${sign}${days}d ${hours}h`;
  if (hours) return `${sign}${hours}h ${minutes}m`;
  if (minutes) return `${sign}${minutes}m ${secs}s`;
  return `${sign}${secs}s`;
}

/** A number as the API gives it, for data-* attributes read by scripts and tests. */
export function raw(value) {
  return value === null || value === undefined ? "" : String(value);
}
