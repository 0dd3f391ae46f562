// Controls shared by the pages: the time-window selector and the "updated at" line. The window
// lives in the hash query (`#/graph?window=5m`) so a reload or a shared link keeps it.

import { h } from "./dom.js";

export const WINDOWS = ["1m", "5m", "15m", "30m"];

export function currentWindow(query) {
  return query.get("window") || "1m";
}

/** Writes `key=value` into the hash query without re-rendering the page. */
export function setHashQuery(key, value) {
  const hash = location.hash.replace(/^#/, "");
  const [path, queryText] = hash.split("?", 2);
  const query = new URLSearchParams(queryText ?? "");
  query.set(key, value);
  history.replaceState(null, "", `#${path}?${query}`);
}

/** A <select> of time windows; `onChange(window)` after the hash was updated. */
export function windowSelect(selected, onChange) {
  const options = WINDOWS.includes(selected) ? WINDOWS : [...WINDOWS, selected];
  const select = h(
    "select",
    { "data-testid": "window-select", "aria-label": "time window" },
    options.map((w) => h("option", { value: w, selected: w === selected }, `last ${w}`)),
  );
  select.addEventListener("change", () => {
    setHashQuery("window", select.value);
    onChange(select.value);
  });
  return h("label", { class: "control" }, "Window ", select);
}

export function updatedLine(refreshSeconds) {
  const element = h("span", { class: "muted updated", "data-testid": "updated" }, "loading…");
  return {
    element,
    ok() {
      element.textContent = `updated ${new Date().toLocaleTimeString([], { hour12: false })} · every ${refreshSeconds} s`;
      element.classList.remove("stale");
    },
    failed() {
      element.classList.add("stale");
    },
  };
}
