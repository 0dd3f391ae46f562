// #/graph: the live service graph. The layout is recomputed only when the topology changes;
// otherwise a refresh only rewrites figures, so nothing moves under the reader's eyes.

import { getJson } from "./api.js";
import { currentWindow, updatedLine, windowSelect } from "./controls.js";
import { errorBox, h, replace } from "./dom.js";
import { drawGraph, legend } from "./graph_draw.js";
import { layoutGraph, topologyKey } from "./graph_layout.js";
import { fillPanel } from "./graph_panel.js";

// Below this the 10.5 px labels are no longer readable: the canvas scrolls instead.
const MIN_FIT_SCALE = 0.7;

export function mount(route, context) {
  let timeWindow = currentWindow(context.query);
  let graph = null;
  let view = null;
  let layout = null;
  let key = null;
  let selection = null;
  let scale = null; // null: fit to the canvas width (never above 100 %) until the user zooms
  let layouts = 0;
  let updates = 0;

  const updated = updatedLine(context.refreshSeconds);
  const errors = h("div", { class: "errors" });
  const canvas = h("div", { class: "graph-canvas", "data-testid": "graph" });
  const panel = h("aside", { class: "panel", "data-testid": "panel", hidden: true });
  const zoomLabel = h("span", { class: "zoom-label", "data-testid": "zoom" }, "");

  const applyScale = () => {
    if (!view) return;
    const fitScale = Math.max(MIN_FIT_SCALE, Math.min(1, (canvas.clientWidth - 8) / layout.width));
    const used = scale ?? fitScale;
    view.svg.setAttribute("width", Math.round(layout.width * used));
    view.svg.setAttribute("height", Math.round(layout.height * used));
    zoomLabel.textContent = `${Math.round(used * 100)}%`;
  };
  const zoom = (factor) => {
    const current = view ? Number(view.svg.getAttribute("width")) / layout.width : 1;
    scale = factor === null ? null : Math.min(2, Math.max(0.25, current * factor));
    applyScale();
  };

  const select = (next) => {
    selection = next;
    view?.select(selection);
    if (graph && !fillPanel(panel, selection, graph, select)) selection = null;
    if (!selection) panel.hidden = true;
    // The panel takes width from the canvas: a fitted graph is fitted again, so it stays whole.
    if (scale === null) applyScale();
  };

  const render = () => {
    const nextKey = topologyKey(graph);
    if (nextKey !== key) {
      key = nextKey;
      layout = layoutGraph(graph);
      view = drawGraph(graph, layout, select);
      layouts += 1;
      // For benchmarks/dashboard_page.py: page load to the first drawn graph.
      if (layouts === 1) performance.mark("mainsail:graph-first-render");
      if (graph.nodes.length === 0) {
        replace(canvas, h("p", { class: "empty", "data-testid": "graph-empty", text: "No services or workloads yet." }));
      } else {
        replace(canvas, view.svg);
        view.fitTexts();
      }
      applyScale();
    } else {
      view.update(graph);
    }
    updates += 1;
    canvas.dataset.layouts = layouts;
    canvas.dataset.updates = updates;
    canvas.dataset.window = timeWindow;
    view.select(selection);
    if (selection) fillPanel(panel, selection, graph, select);
  };

  replace(
    context.root,
    h(
      "div",
      { class: "graph-page" },
      h(
        "div",
        { class: "toolbar" },
        h("h2", { text: "Service graph" }),
        windowSelect(timeWindow, (w) => {
          timeWindow = w;
          context.poll.now();
        }),
        h(
          "span",
          { class: "zoom" },
          h("button", { "data-testid": "zoom-out", title: "zoom out", onclick: () => zoom(1 / 1.25) }, "−"),
          zoomLabel,
          h("button", { "data-testid": "zoom-in", title: "zoom in", onclick: () => zoom(1.25) }, "+"),
          h("button", { "data-testid": "zoom-fit", title: "fit the width", onclick: () => zoom(null) }, "fit"),
        ),
        updated.element,
      ),
      errors,
      h("div", { class: "graph-body" }, canvas, panel),
      legend(),
    ),
  );

  const onResize = () => scale === null && applyScale();
  addEventListener("resize", onResize);

  context.poll.every(async (signal) => {
    try {
      graph = await getJson("graph", { window: timeWindow, namespace: context.query.get("namespace") }, { signal });
      errors.replaceChildren();
      render();
      updated.ok();
    } catch (error) {
      if (error.name === "AbortError") throw error;
      updated.failed();
      errors.replaceChildren(errorBox("Loading the service graph", error));
    }
  });
  return () => removeEventListener("resize", onResize);
}
