// Line charts over time in SVG, with axes, grid lines, tick values and each series' latest value.

import { h, s } from "./dom.js";
import * as fmt from "./format.js";

const PAD = { left: 62, right: 16, top: 30, bottom: 26 };

/** A "nice" step (1, 2, 2.5 or 5 × 10^n) giving about `count` ticks up to `max`. */
export function niceStep(max, count) {
  if (!(max > 0)) return 1;
  const rough = max / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= rough) return m * power;
  return 10 * power;
}

/** A step a clock reads well (5 s, 1 min, 5 min, …) giving about `count` ticks over `span`. */
function clockStep(span, count) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400];
  return steps.find((step) => span / step <= count) ?? steps[steps.length - 1];
}

/**
 * series: [{name, points: [[unixSeconds, value|null], ...], cls}]; format(value) writes a value.
 * Returns a <figure> holding the SVG.
 */
export function lineChart({ title, series, format, testid, minTop = 1, timeRange = null, width = 480, height = 210 }) {
  const all = series.flatMap((one) => one.points.filter((p) => p[1] !== null && p[1] !== undefined));
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": title });
  const legend = s("g", { class: "chart-legend", transform: `translate(${PAD.left},14)` });
  let lx = 0;
  for (const one of series) {
    const last = [...one.points].reverse().find((p) => p[1] !== null && p[1] !== undefined);
    const text = `${one.name} ${last ? format(last[1]) : fmt.DASH}`;
    legend.append(
      s("line", { class: `series ${one.cls}`, x1: lx, y1: -4, x2: lx + 14, y2: -4 }),
      s("text", { x: lx + 18, y: 0, text, "data-testid": `${testid}-latest-${one.name}` }),
    );
    lx += 30 + text.length * 6.2;
  }
  svg.append(legend);
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  if (!all.length) {
    svg.append(
      s("rect", { class: "plot", x: PAD.left, y: PAD.top, width: plotW, height: plotH }),
      s("text", { class: "no-data", x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, text: "no data yet" }),
    );
    return figure(title, svg, testid, 0);
  }
  let t0 = timeRange ? timeRange[0] : Math.min(...all.map((p) => p[0]));
  const t1 = timeRange ? timeRange[1] : Math.max(...all.map((p) => p[0]));
  if (t1 - t0 < 1) t0 = t1 - 60;
  // A flat zero line still gets a readable scale (not 0 to 100 %).
  const max = Math.max(minTop, ...all.map((p) => p[1]));
  const step = niceStep(max, 4);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * plotW;
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const axes = s("g", { class: "axes" });
  axes.append(s("rect", { class: "plot", x: PAD.left, y: PAD.top, width: plotW, height: plotH }));
  for (let v = 0; v <= top + step / 1000; v += step) {
    axes.append(
      s("line", { class: "grid", x1: PAD.left, x2: PAD.left + plotW, y1: y(v), y2: y(v) }),
      s("text", { class: "tick y", x: PAD.left - 6, y: y(v) + 4, text: format(v) }),
    );
  }
  const timeStep = clockStep(t1 - t0, 4);
  for (let t = Math.ceil(t0 / timeStep) * timeStep; t <= t1; t += timeStep) {
    axes.append(
      s("line", { class: "grid", x1: x(t), x2: x(t), y1: PAD.top, y2: PAD.top + plotH }),
      s("text", { class: "tick x", x: x(t), y: PAD.top + plotH + 16, text: fmt.clock(t) }),
    );
  }
  svg.append(axes);
  for (const one of series) {
    // Unmeasured points (null) break the line; a point with no measured neighbour is a dot.
    const runs = [];
    let run = [];
    for (const [t, v] of one.points) {
      if (v === null || v === undefined) {
        if (run.length) runs.push(run);
        run = [];
      } else {
        run.push([x(t).toFixed(1), y(v).toFixed(1)]);
      }
    }
    if (run.length) runs.push(run);
    const d = runs.map((r) => `M${r.map(([px, py]) => `${px},${py}`).join(" L")}`).join(" ");
    if (d) svg.append(s("path", { class: `series ${one.cls}`, d }));
    for (const r of runs.filter((r) => r.length === 1)) {
      svg.append(s("circle", { class: `dot ${one.cls}`, cx: r[0][0], cy: r[0][1], r: 2.5 }));
    }
  }
  return figure(title, svg, testid, all.length);
}

function figure(title, svg, testid, points) {
  return h("figure", { class: "chart-box", "data-testid": testid, "data-points": points }, h("figcaption", { text: title }), svg);
}

/** The four golden-signal charts from a `series` object of the API. */
export function goldenCharts(series, testidPrefix = "chart") {
  const points = (name) => series?.[name] ?? [];
  // One time axis for the three charts, so they read side by side.
  const times = ["rps", "error_rate", "p50_ms", "p99_ms"].flatMap((k) => points(k).filter((p) => p[1] !== null).map((p) => p[0]));
  const timeRange = times.length && Math.max(...times) - Math.min(...times) >= 1 ? [Math.min(...times), Math.max(...times)] : null;
  return h(
    "div",
    { class: "charts" },
    lineChart({ title: "Requests per second", series: [{ name: "rps", points: points("rps"), cls: "s-rps" }], format: (v) => fmt.rps(v).replace(" rps", ""), timeRange, testid: `${testidPrefix}-rps` }),
    lineChart({ title: "Error rate (5xx)", series: [{ name: "errors", points: points("error_rate"), cls: "s-err" }], format: fmt.percent, minTop: 0.05, timeRange, testid: `${testidPrefix}-error-rate` }),
    lineChart({
      title: "Latency",
      series: [
        { name: "p50", points: points("p50_ms"), cls: "s-p50" },
        { name: "p99", points: points("p99_ms"), cls: "s-p99" },
      ],
      format: fmt.ms,
      minTop: 10,
      timeRange,
      testid: `${testidPrefix}-latency`,
    }),
  );
}
