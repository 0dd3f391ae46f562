// #/config: every resource in the mesh with its validation status and analyzer findings, the
// proxies it affects, and (legacy kinds) its converted modern form. Refreshes keep the filter
// and the expanded rows.

import { getJson } from "./api.js";
import { updatedLine } from "./controls.js";
import { errorBox, h, replace, routeLink } from "./dom.js";

const STATUS_ORDER = { error: 0, warning: 1, valid: 2 };

function rowKey(item) {
  return `${item.kind}-${item.namespace ?? ""}-${item.name}`;
}

function searchText(item) {
  return [item.kind, item.apiVersion, item.namespace, item.name, item.status, ...(item.findings ?? []).flatMap((f) => [f.code, f.message])]
    .filter(Boolean)
    .join(" ")
    .toLowerCase();
}

function badge(status) {
  return h("span", { class: `badge status-${status}`, "data-testid": "status", text: status });
}

function findingsList(findings) {
  return h(
    "ul",
    { class: "findings", "data-testid": "findings" },
    findings.map((f) => h("li", { class: `level-${String(f.level).toLowerCase()}` }, h("code", { text: f.code }), ` ${f.level}: ${f.message}`, f.path ? h("span", { class: "muted", text: ` (${f.path})` }) : null)),
  );
}

function detail(item) {
  const proxies = item.proxies ?? [];
  return h(
    "div",
    { class: "config-detail" },
    item.findings?.length ? h("div", {}, h("h4", { text: "Findings" }), findingsList(item.findings)) : null,
    h(
      "div",
      {},
      h("h4", { text: `Affects ${proxies.length} prox${proxies.length === 1 ? "y" : "ies"}` }),
      proxies.length
        ? h("ul", { class: "inline-list", "data-testid": "proxies" }, proxies.map((p) => h("li", {}, routeLink(`/proxies/${encodeURIComponent(p)}`, p))))
        : h("p", { class: "muted", text: "no proxy holds config from it" }),
    ),
    h("div", { class: "yaml-columns" },
      h("div", {}, h("h4", { text: "YAML" }), h("pre", { class: "code", "data-testid": "yaml", text: item.yaml ?? "" })),
      item.legacy || item.converted
        ? h("div", {}, h("h4", { text: "Converted (modern form)" }), h("pre", { class: "code", "data-testid": "converted", text: item.converted ?? "(no converted form)" }))
        : null,
    ),
  );
}

export function mount(route, context) {
  const expanded = new Set();
  let items = [];
  const updated = updatedLine(context.refreshSeconds);
  const filter = h("input", { type: "search", placeholder: "filter: kind, name, namespace, status, IST0101…", "data-testid": "config-filter", value: context.query.get("filter") ?? "" });
  const count = h("span", { class: "muted", "data-testid": "config-count" });
  const body = h("div");
  const table = h("tbody");

  const draw = () => {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = items.filter((item) => words.every((w) => searchText(item).includes(w)));
    count.textContent = `${shown.length} of ${items.length} resources`;
    const rows = [];
    for (const item of shown) {
      const key = rowKey(item);
      const open = expanded.has(key);
      const findings = item.findings ?? [];
      rows.push(
        h(
          "tr",
          {
            class: `config-row${open ? " open" : ""}`,
            "data-testid": `config-row-${key}`,
            "data-status": item.status,
            "aria-expanded": open ? "true" : "false",
            onclick: () => {
              if (expanded.has(key)) expanded.delete(key);
              else expanded.add(key);
              draw();
            },
          },
          h("td", {}, h("span", { class: "caret", text: open ? "▾" : "▸" }), " ", item.kind, item.legacy ? h("span", { class: "badge legacy", text: "legacy" }) : null),
          h("td", { text: item.namespace ?? "" }),
          h("td", { text: item.name }),
          h("td", {}, badge(item.status)),
          h("td", { class: "findings-cell" }, findings.map((f) => h("span", { class: `finding level-${String(f.level).toLowerCase()}`, title: f.message, text: f.code }))),
          h("td", { class: "num", text: String((item.proxies ?? []).length) }),
        ),
      );
      if (open) rows.push(h("tr", { class: "detail-row", "data-testid": `config-detail-${key}` }, h("td", { colspan: 6 }, detail(item))));
    }
    table.replaceChildren(...rows);
  };
  filter.addEventListener("input", draw);

  replace(
    context.root,
    h(
      "div",
      { class: "config-page" },
      h("div", { class: "toolbar" }, h("h2", { text: "Config" }), filter, count, updated.element),
      body,
    ),
  );
  const tableElement = h(
    "table",
    { class: "table config-table", "data-testid": "config-table" },
    h("thead", {}, h("tr", {}, ["kind", "namespace", "name", "status", "findings", "proxies"].map((c) => h("th", { text: c })))),
    table,
  );
  context.poll.every(async (signal) => {
    try {
      const answer = await getJson("config", {}, { signal });
      items = [...(answer.items ?? [])].sort(
        (a, b) =>
          (STATUS_ORDER[a.status] ?? 3) - (STATUS_ORDER[b.status] ?? 3) ||
          a.kind.localeCompare(b.kind) ||
          String(a.namespace ?? "").localeCompare(String(b.namespace ?? "")) ||
          a.name.localeCompare(b.name),
      );
      if (!body.contains(tableElement)) replace(body, tableElement);
      draw();
      updated.ok();
    } catch (error) {
      if (error.name === "AbortError") throw error;
      updated.failed();
      replace(body, errorBox("Loading the mesh's config", error));
    }
  });
}
