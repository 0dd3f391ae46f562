// #/mesh, #/services/<ns>/<name>, #/workloads/<ns>/<name>: golden signals (the Grafana Istio
// dashboards' content): figures over the window, charts over time, and who calls whom.

import { getJson, segments } from "./api.js";
import { goldenCharts } from "./charts.js";
import { currentWindow, updatedLine, windowSelect } from "./controls.js";
import { errorBox, h, replace, routeLink, s } from "./dom.js";
import { padlock } from "./graph_draw.js";
import * as fmt from "./format.js";

const HISTORY_LIMIT = 720;

function tiles(signals) {
  const tile = (key, label, text, bad) =>
    h("div", { class: `tile${bad ? " bad" : ""}`, "data-testid": `signal-${key}`, "data-value": fmt.raw(signals?.[key]) }, h("div", { class: "tile-value", text }), h("div", { class: "tile-label", text: label }));
  return h(
    "div",
    { class: "tiles" },
    tile("rps", "requests / s", fmt.rps(signals?.rps).replace(" rps", "")),
    tile("error_rate", "error rate", fmt.percent(signals?.error_rate), (signals?.error_rate ?? 0) > 0),
    tile("p50_ms", "p50 latency", fmt.ms(signals?.p50_ms)),
    tile("p99_ms", "p99 latency", fmt.ms(signals?.p99_ms)),
  );
}

/** The page of a peer in an inbound/outbound row, by its kind. */
function peerLink(row) {
  const name = row.name || row.id || "unknown";
  if (!row.namespace || !row.name) return name;
  if (row.kind === "service") return routeLink(`/services/${segments(row.namespace, row.name)}`, name);
  if (row.kind === "workload" || row.kind === "gateway") return routeLink(`/workloads/${segments(row.namespace, row.name)}`, name);
  return name;
}

function signalsTable(title, rows, testid, { mtls = false } = {}) {
  const head = ["name", "namespace", "kind", "requests", "error rate", "p50", "p99", ...(mtls ? ["mTLS"] : [])];
  return h(
    "section",
    { class: "card" },
    h("h3", { text: title }),
    rows?.length
      ? h(
          "table",
          { class: "table", "data-testid": testid },
          h("thead", {}, h("tr", {}, head.map((c) => h("th", { text: c })))),
          h(
            "tbody",
            {},
            rows.map((row) =>
              h(
                "tr",
                { "data-testid": `${testid}-${row.kind ?? "peer"}-${row.namespace ?? ""}-${row.name ?? ""}` },
                h("td", {}, peerLink(row)),
                h("td", { text: row.namespace ?? "" }),
                h("td", { text: row.kind ?? "" }),
                h("td", { class: "num", text: fmt.rps(row.rps) }),
                h("td", { class: `num${row.error_rate > 0 ? " bad" : ""}`, text: fmt.percent(row.error_rate) }),
                h("td", { class: "num", text: fmt.ms(row.p50_ms) }),
                h("td", { class: "num", text: fmt.ms(row.p99_ms) }),
                mtls ? h("td", { class: "nowrap" }, row.mtls === true ? [s("svg", { width: 11, height: 13, viewBox: "0 0 10 12", class: "inline-lock" }, padlock()), " yes"] : row.mtls === false ? "no" : fmt.DASH) : null,
              ),
            ),
          ),
        )
      : h("p", { class: "muted", text: "none in this window" }),
  );
}

function workloadLinks(namespace, workloads) {
  if (!workloads?.length) return null;
  return h(
    "section",
    { class: "card" },
    h("h3", { text: "Workloads" }),
    h(
      "ul",
      { class: "inline-list", "data-testid": "workloads" },
      workloads.map((w) => {
        const name = typeof w === "string" ? w : w.name;
        const ns = typeof w === "string" ? namespace : w.namespace ?? namespace;
        return h("li", {}, routeLink(`/workloads/${segments(ns, name)}`, name), typeof w === "object" && w.rps !== undefined ? h("span", { class: "muted", text: ` ${fmt.rps(w.rps)}` }) : null);
      }),
    ),
  );
}

function pageShell(context, title, subtitle, onWindow) {
  const updated = updatedLine(context.refreshSeconds);
  const body = h("div", { class: "signals-body" });
  replace(
    context.root,
    h(
      "div",
      { class: "signals-page" },
      h("div", { class: "toolbar" }, h("h2", { "data-testid": "page-title", text: title }), subtitle ? h("span", { class: "muted", text: subtitle }) : null, windowSelect(currentWindow(context.query), onWindow), updated.element),
      body,
    ),
  );
  return { body, updated };
}

export function mountMesh(route, context) {
  let timeWindow = currentWindow(context.query);
  // The summary has no history of its own: the page keeps the figures it saw (charts then start
  // empty and fill while the page is open) unless the API sends `series`.
  const history = { rps: [], error_rate: [], p50_ms: [], p99_ms: [] };
  const { body, updated } = pageShell(context, "Mesh", null, (w) => {
    timeWindow = w;
    for (const list of Object.values(history)) list.length = 0;
    context.poll.now();
  });
  context.poll.every(async (signal) => {
    let summary;
    try {
      summary = await getJson("summary", { window: timeWindow }, { signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      updated.failed();
      replace(body, errorBox("Loading the mesh summary", error));
      return;
    }
    const now = Date.now() / 1000;
    for (const key of Object.keys(history)) {
      history[key].push([now, summary.mesh?.[key] ?? null]);
      if (history[key].length > HISTORY_LIMIT) history[key].shift();
    }
    const services = (summary.services ?? []).map((svc) => ({ kind: "service", ...svc }));
    replace(
      body,
      tiles(summary.mesh),
      goldenCharts(summary.series ?? history),
      signalsTable("Services", services, "services-table"),
    );
    updated.ok();
  });
}

export function mountEntity(route, context, collection, namespace, name) {
  const isService = collection === "services";
  let timeWindow = currentWindow(context.query);
  const range = context.query.get("range") || "15m";
  const { body, updated } = pageShell(context, name, `${isService ? "service" : "workload"} · ${namespace}`, (w) => {
    timeWindow = w;
    context.poll.now();
  });
  const what = `Loading ${isService ? "service" : "workload"} ${namespace}/${name}`;
  context.poll.every(async (signal) => {
    let entity;
    try {
      entity = await getJson(`${collection}/${segments(namespace, name)}`, { window: timeWindow, range }, { signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      updated.failed();
      replace(body, errorBox(what, error));
      return;
    }
    replace(
      body,
      tiles(entity.signals),
      goldenCharts(entity.series),
      entity.source ? h("p", { class: "muted small", text: `history from ${entity.source} over the last ${range}` }) : null,
      h(
        "div",
        { class: "two-columns" },
        signalsTable(isService ? "Inbound (callers)" : "Inbound", entity.inbound, "inbound", { mtls: true }),
        signalsTable("Outbound", entity.outbound, "outbound", { mtls: true }),
      ),
      isService ? workloadLinks(namespace, entity.workloads) : null,
      h("p", {}, routeLink(`/graph`, "← service graph")),
    );
    updated.ok();
  });
}
