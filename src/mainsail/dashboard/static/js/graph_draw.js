// Drawing the laid-out service graph as SVG, and updating its figures in place on refresh (the
// elements stay, only texts, classes and data-* attributes change).

import { h, s } from "./dom.js";
import * as fmt from "./format.js";
import { NODE_H } from "./graph_layout.js";

const KIND_LABEL = {
  service: "service",
  workload: "workload",
  app: "app",
  gateway: "gateway",
  external: "external service",
  unknown: "unknown (no sidecar)",
};

/** The shape that tells kinds apart (colour comes from the CSS class), 16 px, centred on 0,0. */
export function kindIcon(kind) {
  switch (kind) {
    case "service":
      return s("path", { class: "icon", d: "M0,-7 L7.5,6 L-7.5,6 Z" });
    case "gateway":
      return s("path", { class: "icon", d: "M-7,-4 L0,-8 L7,-4 L7,4 L0,8 L-7,4 Z" });
    case "external":
      return s("path", { class: "icon", d: "M0,-8 L8,0 L0,8 L-8,0 Z" });
    case "unknown":
      return s("g", {}, s("circle", { class: "icon", r: 7 }), s("text", { class: "icon-text", y: 4, text: "?" }));
    case "app":
      return s("rect", { class: "icon", x: -7, y: -6, width: 14, height: 12, rx: 3 });
    default:
      return s("circle", { class: "icon", r: 7 });
  }
}

/** A padlock, 10 px wide, its top-left corner at 0,0. */
export function padlock(attrs = {}) {
  return s(
    "g",
    { class: "padlock", ...attrs },
    s("path", { d: "M2.5,5 V3.2 a2.5,2.5 0 0 1 5,0 V5", fill: "none" }),
    s("rect", { x: 0.5, y: 5, width: 9, height: 7, rx: 1.5 }),
  );
}

export function kindLabel(kind) {
  return KIND_LABEL[kind] ?? kind;
}

function subtitle(node) {
  switch (node.kind) {
    case "workload":
      return [node.version, node.namespace].filter(Boolean).join(" · ");
    case "service":
    case "gateway":
      return `${node.kind} · ${node.namespace ?? ""}`;
    case "external":
      return "external service";
    case "unknown":
      return "callers without a sidecar";
    default:
      return node.namespace ?? "";
  }
}

export function displayName(node) {
  if (node.kind === "unknown") return "unknown";
  return node.name ?? node.id;
}

/** Shortens the text of `element` until it fits `width` (the full name stays in its title). */
function fit(element, text, width) {
  element.textContent = text;
  if (!element.isConnected || element.getComputedTextLength() <= width) return;
  let keep = text.length;
  while (keep > 3 && element.getComputedTextLength() > width) {
    keep -= 1;
    element.textContent = `${text.slice(0, keep)}…`;
  }
}

function setFigures(element, item) {
  element.dataset.rps = fmt.raw(item.rps);
  element.dataset.errorRate = fmt.raw(item.error_rate);
  element.classList.toggle("has-errors", (item.error_rate ?? 0) > 0);
  element.classList.toggle("idle", !item.rps);
}

function nodeElement(node, box, onSelect) {
  const name = s("text", { class: "node-name", x: 30, y: 16 });
  const sub = s("text", { class: "node-sub", x: 30, y: 30 });
  const element = s(
    "g",
    {
      class: `node kind-${node.kind}`,
      transform: `translate(${box.x},${box.y})`,
      "data-testid": `node-${node.id}`,
      "data-id": node.id,
      role: "button",
      tabindex: 0,
    },
    s("title", { text: `${kindLabel(node.kind)} ${node.namespace ? `${node.namespace}/` : ""}${displayName(node)}` }),
    s("rect", { class: "node-box", width: box.w, height: box.h, rx: 7 }),
    s("g", { transform: `translate(16,${NODE_H / 2})` }, kindIcon(node.kind)),
    name,
    sub,
  );
  element.addEventListener("click", (event) => {
    event.stopPropagation();
    onSelect({ type: "node", id: node.id });
  });
  element.addEventListener("keydown", (event) => {
    if (event.key === "Enter") onSelect({ type: "node", id: node.id });
  });
  element.fitText = () => {
    fit(name, displayName(node), box.w - 36);
    fit(sub, subtitle(node), box.w - 36);
  };
  return element;
}

function groupElement(group, onSelect) {
  const label = s("text", { class: "group-name", x: 8, y: 12.5, text: displayName(group.node) });
  const element = s(
    "g",
    {
      class: "group",
      transform: `translate(${group.x},${group.y})`,
      "data-testid": `node-${group.id}`,
      "data-id": group.id,
    },
    s("rect", { class: "group-box", width: group.w, height: group.h, rx: 9 }),
    label,
  );
  element.addEventListener("click", (event) => {
    event.stopPropagation();
    onSelect({ type: "node", id: group.id });
  });
  return element;
}

function edgeElement(edge, geometry, onSelect) {
  const rpsText = s("text", { class: "edge-rps", x: 0, y: -2 });
  const errText = s("text", { class: "edge-err", x: 0, y: 10 });
  const lock = padlock({ transform: "translate(-30,-11)" });
  const labelBox = s("rect", { class: "edge-label-box", x: -33, y: -12, width: 66, height: 25, rx: 4 });
  const label = s(
    "g",
    { class: "edge-label", transform: `translate(${geometry.labelX},${geometry.labelY})` },
    labelBox,
    lock,
    rpsText,
    errText,
  );
  const element = s(
    "g",
    { class: "edge", "data-testid": `edge-${edge.id}`, "data-id": edge.id, "data-source": edge.source, "data-target": edge.target },
    s("path", { class: "edge-hit", d: geometry.d }),
    s("path", { class: "edge-line", d: geometry.d }),
  );
  element.label = label;
  element.update = (item) => {
    setFigures(element, item);
    setFigures(label, item);
    element.dataset.mtls = item.mtls ? "true" : "false";
    lock.style.display = item.mtls ? "" : "none";
    rpsText.textContent = fmt.rps(item.rps);
    errText.textContent = `${fmt.percent(item.error_rate)} err`;
    // Room for the padlock only when it is shown.
    rpsText.setAttribute("x", item.mtls ? 6 : 0);
  };
  const select = (event) => {
    event.stopPropagation();
    onSelect({ type: "edge", id: edge.id });
  };
  element.addEventListener("click", select);
  label.addEventListener("click", select);
  return element;
}

/** The whole SVG for a layout; returns {svg, update(graph), select(selection)}. */
export function drawGraph(graph, layout, onSelect) {
  const svg = s("svg", {
    class: "graph-svg",
    viewBox: `0 0 ${layout.width} ${layout.height}`,
    width: layout.width,
    height: layout.height,
    "data-testid": "graph-svg",
    role: "img",
    "aria-label": "service graph",
  });
  svg.append(
    s(
      "defs",
      {},
      ["normal", "errors", "selected"].map((kind) =>
        s(
          "marker",
          { id: `arrow-${kind}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
          s("path", { class: `arrow arrow-${kind}`, d: "M0,0 L10,5 L0,10 z" }),
        ),
      ),
    ),
  );
  const groupsLayer = s("g", { class: "groups" });
  const edgesLayer = s("g", { class: "edges" });
  const nodesLayer = s("g", { class: "nodes" });
  const labelsLayer = s("g", { class: "edge-labels" });
  svg.append(groupsLayer, edgesLayer, nodesLayer, labelsLayer);
  svg.addEventListener("click", () => onSelect(null));
  const elements = new Map();
  for (const group of layout.groups) {
    const element = groupElement(group, onSelect);
    groupsLayer.append(element);
    elements.set(group.id, element);
  }
  const nodeIds = new Set(graph.nodes.map((n) => n.id));
  for (const node of graph.nodes) {
    const box = layout.nodes.get(node.id);
    if (!box) continue;
    const element = nodeElement(node, box, onSelect);
    nodesLayer.append(element);
    elements.set(node.id, element);
  }
  for (const edge of graph.edges) {
    const geometry = layout.edges.get(edge.id);
    if (!geometry || !nodeIds.has(edge.source) || !nodeIds.has(edge.target)) continue;
    const element = edgeElement(edge, geometry, onSelect);
    edgesLayer.append(element);
    labelsLayer.append(element.label);
    elements.set(edge.id, element);
  }
  const view = {
    svg,
    /** Names must be measured once the SVG is in the document. */
    fitTexts() {
      for (const element of elements.values()) element.fitText?.();
    },
    update(next) {
      for (const node of next.nodes) {
        const element = elements.get(node.id);
        if (element) setFigures(element, node);
      }
      for (const edge of next.edges) elements.get(edge.id)?.update?.(edge);
    },
    select(selection) {
      for (const element of svg.querySelectorAll(".selected")) element.classList.remove("selected");
      if (selection) elements.get(selection.id)?.classList.add("selected");
      if (selection?.type === "edge") elements.get(selection.id)?.label.classList.add("selected");
    },
  };
  view.update(graph);
  return view;
}

/** The legend: node kinds, the app box, and what an edge's colour and padlock mean. */
export function legend() {
  const kinds = ["gateway", "service", "workload", "external", "unknown"];
  const item = (icon, text, cls) =>
    h("span", { class: `legend-item ${cls}` }, s("svg", { width: 20, height: 20, viewBox: "-10 -10 20 20" }, icon), text);
  return h(
    "div",
    { class: "legend", "data-testid": "legend" },
    kinds.map((kind) => item(kindIcon(kind), kindLabel(kind), `kind-${kind}`)),
    item(s("rect", { class: "group-box", x: -8, y: -7, width: 16, height: 14, rx: 3 }), "app (its workloads inside)", "kind-app"),
    item(s("path", { class: "edge-line", d: "M-9,0 H9" }), "requests", "edge"),
    item(s("path", { class: "edge-line", d: "M-9,0 H9" }), "with errors (5xx)", "edge has-errors"),
    item(padlock({ transform: "translate(-5,-6)" }), "mTLS", "edge"),
  );
}
