// #/traces and #/traces/<id>: recent traces from the built-in collector, and one trace as a
// waterfall (a bar per span, offset by its start, nested under its parent).

import { getJson, segments } from "./api.js";
import { updatedLine } from "./controls.js";
import { errorBox, h, replace, routeLink } from "./dom.js";
import * as fmt from "./format.js";

export function mountList(route, context) {
  const updated = updatedLine(context.refreshSeconds);
  const service = h("input", { type: "search", placeholder: "service", "data-testid": "trace-service", value: context.query.get("service") ?? "" });
  const body = h("div");
  service.addEventListener("change", () => context.poll.now());
  replace(context.root, h("div", { class: "traces-page" }, h("div", { class: "toolbar" }, h("h2", { text: "Traces" }), service, updated.element), body));
  context.poll.every(async (signal) => {
    let answer;
    try {
      answer = await getJson("traces", { service: service.value.trim(), limit: 50 }, { signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      updated.failed();
      replace(body, errorBox("Loading recent traces", error));
      return;
    }
    const traces = [...(answer.items ?? [])].sort((a, b) => (b.start_us ?? 0) - (a.start_us ?? 0));
    const longest = Math.max(1, ...traces.map((t) => t.duration_us ?? 0));
    replace(
      body,
      traces.length
        ? h(
            "table",
            { class: "table", "data-testid": "traces-table" },
            h("thead", {}, h("tr", {}, ["trace", "root span", "start", "duration", "spans", ""].map((c) => h("th", { text: c })))),
            h(
              "tbody",
              {},
              traces.map((t) =>
                h(
                  "tr",
                  { "data-testid": `trace-${t.trace_id}` },
                  h("td", {}, routeLink(`/traces/${encodeURIComponent(t.trace_id)}`, t.trace_id, { class: "mono" })),
                  h("td", { text: t.root ?? "" }),
                  h("td", { text: fmt.dateTime((t.start_us ?? 0) / 1e6) }),
                  h("td", { class: "num", text: fmt.micros(t.duration_us) }),
                  h("td", { class: "num", text: String(t.spans ?? "") }),
                  h("td", { class: "mini-bar-cell" }, h("div", { class: "mini-bar", style: `width:${Math.max(2, ((t.duration_us ?? 0) / longest) * 100)}%` })),
                ),
              ),
            ),
          )
        : h("p", { class: "muted", "data-testid": "traces-empty", text: "No traces yet (the mesh samples 1% of requests unless configured otherwise)." }),
    );
    updated.ok();
  });
}

/** Spans in depth-first order under their parents; a span whose parent is missing is a root. */
export function orderSpans(spans) {
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map();
  const roots = [];
  for (const span of spans) {
    if (span.parent_id && ids.has(span.parent_id) && span.parent_id !== span.span_id) {
      if (!children.has(span.parent_id)) children.set(span.parent_id, []);
      children.get(span.parent_id).push(span);
    } else {
      roots.push(span);
    }
  }
  const byStart = (a, b) => (a.start_us ?? 0) - (b.start_us ?? 0) || String(a.span_id).localeCompare(String(b.span_id));
  const ordered = [];
  const seen = new Set();
  const walk = (span, depth) => {
    if (seen.has(span.span_id)) return;
    seen.add(span.span_id);
    ordered.push({ span, depth });
    for (const child of (children.get(span.span_id) ?? []).sort(byStart)) walk(child, depth + 1);
  };
  for (const root of roots.sort(byStart)) walk(root, 0);
  return ordered;
}

function spanTags(span) {
  const tags = Object.entries(span.tags ?? {}).sort();
  return h(
    "table",
    { class: "figures tags" },
    h("tr", {}, h("th", { text: "span id" }), h("td", { class: "mono", text: span.span_id })),
    h("tr", {}, h("th", { text: "parent" }), h("td", { class: "mono", text: span.parent_id ?? "—" })),
    tags.map(([k, v]) => h("tr", {}, h("th", { text: k }), h("td", { text: String(v) }))),
  );
}

export function mountTrace(route, context, id) {
  const body = h("div");
  replace(context.root, h("div", { class: "trace-page" }, h("div", { class: "toolbar" }, h("h2", { "data-testid": "page-title", text: `Trace ${id}` }), routeLink("/traces", "← all traces")), body));
  // A trace does not change once complete; loaded once (spans reported late: reload the page).
  (async () => {
    let trace;
    try {
      trace = await getJson(`traces/${segments(id)}`, {}, { signal: context.poll.signal });
    } catch (error) {
      if (error.name === "AbortError") return;
      replace(body, errorBox(`Loading trace ${id}`, error));
      return;
    }
    const spans = trace.spans ?? [];
    if (!spans.length) {
      replace(body, h("p", { class: "muted", text: "This trace has no spans." }));
      return;
    }
    const start = Math.min(...spans.map((s) => s.start_us ?? 0));
    const end = Math.max(...spans.map((s) => (s.start_us ?? 0) + (s.duration_us ?? 0)));
    const total = Math.max(1, end - start);
    const details = h("div", { class: "card span-details", "data-testid": "span-details", hidden: true });
    const rows = orderSpans(spans).map(({ span, depth }) => {
      const left = (((span.start_us ?? 0) - start) / total) * 100;
      const width = Math.max(0.3, ((span.duration_us ?? 0) / total) * 100);
      const row = h(
        "div",
        {
          class: "span-row",
          "data-testid": `span-${span.span_id}`,
          "data-depth": depth,
          "data-offset": (span.start_us ?? 0) - start,
          onclick: () => {
            for (const r of body.querySelectorAll(".span-row.selected")) r.classList.remove("selected");
            row.classList.add("selected");
            replace(details, h("h3", { text: `${span.service ?? ""} ${span.name ?? ""}` }), spanTags(span));
            details.hidden = false;
          },
        },
        h("div", { class: "span-label", style: `padding-left:${depth * 16 + 6}px`, title: `${span.service} ${span.name}` }, h("strong", { text: span.service ?? "?" }), " ", h("span", { class: "muted", text: span.name ?? "" })),
        h(
          "div",
          { class: "span-track" },
          h("div", { class: `span-bar${span.tags?.error || /^5\d\d$/.test(String(span.tags?.["http.status_code"] ?? "")) ? " bad" : ""}`, style: `left:${left}%;width:${width}%` }),
          h("span", { class: "span-time", style: `left:${left + width}%`, text: fmt.micros(span.duration_us) }),
        ),
      );
      return row;
    });
    const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => h("span", { class: "axis-tick", style: `left:${f * 100}%`, text: fmt.micros(f * total) }));
    replace(
      body,
      h("p", { class: "muted", text: `${spans.length} spans · ${fmt.micros(total)} · started ${fmt.dateTime(start / 1e6)}` }),
      h("div", { class: "waterfall", "data-testid": "waterfall" }, h("div", { class: "span-row axis" }, h("div", { class: "span-label" }), h("div", { class: "span-track" }, ticks)), rows),
      details,
    );
  })();
}
