// A collapsible JSON tree built lazily: an Envoy config dump is megabytes, so a branch's children
// are created only when it is first opened.

import { h } from "./dom.js";

function scalar(value) {
  const type = value === null ? "null" : typeof value;
  return h("span", { class: `json-${type}`, text: JSON.stringify(value) });
}

function summary(value) {
  if (Array.isArray(value)) return `[${value.length}]`;
  const keys = Object.keys(value);
  // Envoy's typed entries say what they are in "@type": show it on the closed branch.
  const type = typeof value["@type"] === "string" ? ` ${value["@type"].split(".").pop()}` : "";
  const name = typeof value.name === "string" ? ` "${value.name}"` : "";
  return `{${keys.length}}${type}${name}`;
}

export function jsonTree(value, label = "config_dump", open = true) {
  if (value === null || typeof value !== "object") {
    return h("div", { class: "json-leaf" }, h("span", { class: "json-key", text: `${label}: ` }), scalar(value));
  }
  const details = h("details", { class: "json-branch" }, h("summary", {}, h("span", { class: "json-key", text: label }), h("span", { class: "muted", text: ` ${summary(value)}` })));
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
    details.append(h("div", { class: "json-children" }, entries.map(([k, v]) => jsonTree(v, k, false))));
  };
  details.addEventListener("toggle", () => details.open && build());
  if (open) {
    details.open = true;
    build();
  }
  return details;
}
