// The side panel of the graph page: the figures of the selected node or edge, its neighbours,
// and links to its service or workload page.

import { h, routeLink } from "./dom.js";
import * as fmt from "./format.js";
import { displayName, kindLabel } from "./graph_draw.js";

/** The page of a node, if it has one: services → #/services, workloads and gateways → #/workloads. */
export function nodeRoute(node) {
  if (!node || !node.namespace || !node.name) return null;
  const ns = encodeURIComponent(node.namespace);
  const name = encodeURIComponent(node.name);
  if (node.kind === "service") return `/services/${ns}/${name}`;
  if (node.kind === "workload" || node.kind === "gateway") return `/workloads/${ns}/${name}`;
  return null;
}

function figures(item) {
  const rows = [
    ["requests", fmt.rps(item.rps)],
    ["error rate", fmt.percent(item.error_rate)],
    ["p50 latency", fmt.ms(item.p50_ms)],
    ["p99 latency", fmt.ms(item.p99_ms)],
  ];
  return h(
    "table",
    { class: "figures", "data-testid": "panel-figures" },
    rows.map(([k, v]) =>
      h("tr", {}, h("th", { text: k }), h("td", { class: k === "error rate" && item.error_rate > 0 ? "bad" : "", text: v })),
    ),
  );
}

function edgeList(title, edges, byId, end, onSelect) {
  if (!edges.length) return null;
  return h(
    "div",
    { class: "panel-section" },
    h("h4", { text: title }),
    h(
      "ul",
      { class: "edge-list" },
      edges.map((edge) =>
        h(
          "li",
          {},
          h("a", {
            href: "javascript:void 0",
            text: displayName(byId.get(edge[end]) ?? { id: edge[end] }),
            onclick: () => onSelect({ type: "edge", id: edge.id }),
          }),
          h("span", { class: edge.error_rate > 0 ? "bad" : "muted", text: ` ${fmt.rps(edge.rps)} · ${fmt.percent(edge.error_rate)} err` }),
        ),
      ),
    ),
  );
}

function pageLink(node, text) {
  const route = nodeRoute(node);
  return route ? routeLink(route, text, { class: "button", "data-testid": "panel-link" }) : null;
}

function nodePanel(node, graph, byId, onSelect) {
  const members = graph.nodes.filter((n) => n.parent === node.id);
  const inbound = graph.edges.filter((e) => e.target === node.id || members.some((m) => m.id === e.target));
  const outbound = graph.edges.filter((e) => e.source === node.id || members.some((m) => m.id === e.source));
  return [
    h("div", { class: `panel-kind kind-${node.kind}`, text: kindLabel(node.kind) }),
    h("h3", { "data-testid": "panel-title", text: displayName(node) }),
    node.namespace ? h("div", { class: "muted", text: `namespace ${node.namespace}` }) : null,
    node.version ? h("div", { class: "muted", text: `version ${node.version}` }) : null,
    figures(node),
    pageLink(node, `Open ${node.kind === "service" ? "service" : "workload"} page`),
    members.length
      ? h(
          "div",
          { class: "panel-section" },
          h("h4", { text: "workloads" }),
          h("ul", {}, members.map((m) => h("li", {}, routeLink(nodeRoute(m), m.name, { "data-testid": "panel-link" }), h("span", { class: "muted", text: ` ${fmt.rps(m.rps)}` })))),
        )
      : null,
    edgeList("inbound", inbound, byId, "source", onSelect),
    edgeList("outbound", outbound, byId, "target", onSelect),
  ];
}

function codes(title, table) {
  const entries = Object.entries(table ?? {}).sort();
  if (!entries.length) return null;
  return h(
    "div",
    { class: "panel-section" },
    h("h4", { text: title }),
    h("table", { class: "figures" }, entries.map(([k, v]) => h("tr", {}, h("th", { text: k }), h("td", { text: fmt.rps(v) })))),
  );
}

function edgePanel(edge, byId) {
  const source = byId.get(edge.source) ?? { id: edge.source };
  const target = byId.get(edge.target) ?? { id: edge.target };
  const mtls = edge.mtls
    ? `mTLS${edge.mtls_percent !== null && edge.mtls_percent !== undefined ? ` (${Math.round(edge.mtls_percent)}% of requests)` : ""}`
    : "plain text";
  return [
    h("div", { class: "panel-kind", text: `${edge.protocol ?? "traffic"} edge` }),
    h("h3", { "data-testid": "panel-title", text: `${displayName(source)} → ${displayName(target)}` }),
    h("div", { class: edge.mtls ? "good" : "muted", "data-testid": "panel-mtls", text: mtls }),
    figures(edge),
    codes("response codes", edge.response_codes),
    codes("response flags", edge.response_flags),
    h("div", { class: "panel-links" }, pageLink(source, `${displayName(source)} page`), " ", pageLink(target, `${displayName(target)} page`)),
  ];
}

/** Fills `panel` for `selection` ({type, id}) in `graph`; returns false when it is gone. */
export function fillPanel(panel, selection, graph, onSelect) {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  let content = null;
  if (selection?.type === "node" && byId.has(selection.id)) {
    content = nodePanel(byId.get(selection.id), graph, byId, onSelect);
  } else if (selection?.type === "edge") {
    const edge = graph.edges.find((e) => e.id === selection.id);
    if (edge) content = edgePanel(edge, byId);
  }
  if (content === null) {
    panel.hidden = true;
    return false;
  }
  panel.replaceChildren(
    h("button", { class: "close", "aria-label": "close", "data-testid": "panel-close", onclick: () => onSelect(null) }, "×"),
    ...content.filter(Boolean),
  );
  panel.dataset.selected = selection.id;
  panel.hidden = false;
  return true;
}
