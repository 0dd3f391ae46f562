// #/proxies and #/proxies/<proxy>: each proxy's sync state per xDS type (a NACK shows Envoy's
// own message), its certificate's expiry, and (one proxy) its Envoy config dump.

import { getJson, segments } from "./api.js";
import { updatedLine } from "./controls.js";
import { errorBox, h, replace, routeLink } from "./dom.js";
import * as fmt from "./format.js";
import { jsonTree } from "./json_tree.js";

/** ADS order first, then anything else the API reports. */
const TYPE_ORDER = ["CDS", "EDS", "LDS", "RDS", "SDS"];

function typeNames(proxies) {
  const seen = new Set(proxies.flatMap((p) => Object.keys(p.types ?? {})));
  return [...TYPE_ORDER.filter((t) => seen.has(t)), ...[...seen].filter((t) => !TYPE_ORDER.includes(t)).sort()];
}

function stateBadge(state) {
  return h("span", { class: `badge sync-${String(state ?? "none").toLowerCase()}`, text: state ?? "—" });
}

function certificate(cert) {
  if (!cert) return h("span", { class: "muted", text: "none" });
  const left = cert.expires_in_seconds;
  const cls = left === null || left === undefined ? "" : left <= 0 ? "bad" : left < 600 ? "warn" : "";
  return h(
    "span",
    { class: cls, title: `serial ${cert.serial ?? "?"}`, "data-testid": "certificate" },
    left === null || left === undefined ? fmt.dateTime(cert.not_after) : left <= 0 ? `expired ${fmt.duration(-left)} ago` : `expires in ${fmt.duration(left)}`,
  );
}

function nackRows(proxy, types, columns) {
  return types
    .filter((t) => proxy.types?.[t]?.state === "NACK")
    .map((t) =>
      h(
        "tr",
        { class: "nack-row", "data-testid": `nack-${proxy.proxy}-${t}` },
        h("td", { colspan: columns }, h("span", { class: "badge sync-nack", text: `${t} NACK` }), " ", h("code", { class: "nack-message", text: proxy.types[t].error ?? "(Envoy gave no message)" })),
      ),
    );
}

/** Envoy's message: the current NACK's, or (muted) the last one of a type that is fine again. */
function errorCell(entry) {
  if (!entry.error) return h("span", { class: "muted", text: "—" });
  if (entry.state === "NACK") return h("code", { class: "nack-message", text: entry.error });
  return h("span", { class: "muted" }, "last NACK: ", h("code", { text: entry.error }));
}

export function mountList(route, context) {
  const updated = updatedLine(context.refreshSeconds);
  const body = h("div");
  replace(context.root, h("div", { class: "proxies-page" }, h("div", { class: "toolbar" }, h("h2", { text: "Proxies" }), updated.element), body));
  context.poll.every(async (signal) => {
    let answer;
    try {
      answer = await getJson("proxies", {}, { signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      updated.failed();
      replace(body, errorBox("Loading the proxies' sync state", error));
      return;
    }
    const proxies = [...(answer.items ?? [])].sort((a, b) => String(a.proxy).localeCompare(String(b.proxy)));
    const types = typeNames(proxies);
    const columns = 5 + types.length;
    replace(
      body,
      proxies.length
        ? h(
            "table",
            { class: "table", "data-testid": "proxies-table" },
            h("thead", {}, h("tr", {}, ["proxy", "namespace", "type", ...types, "certificate", "connected since"].map((c) => h("th", { text: c })))),
            h(
              "tbody",
              {},
              proxies.map((proxy) => [
                h(
                  "tr",
                  { "data-testid": `proxy-${proxy.proxy}` },
                  h("td", {}, routeLink(`/proxies/${encodeURIComponent(proxy.proxy)}`, proxy.proxy)),
                  h("td", { text: proxy.namespace ?? "" }),
                  h("td", { text: proxy.type ?? "" }),
                  types.map((t) =>
                    h(
                      "td",
                      { "data-testid": `proxy-${proxy.proxy}-${t}`, "data-state": proxy.types?.[t]?.state ?? "", title: proxy.types?.[t]?.error ?? "" },
                      stateBadge(proxy.types?.[t]?.state),
                    ),
                  ),
                  h("td", {}, certificate(proxy.certificate)),
                  h("td", { text: fmt.dateTime(proxy.connected_since) }),
                ),
                nackRows(proxy, types, columns),
              ]),
            ),
          )
        : h("p", { class: "muted", text: "No proxy is connected." }),
    );
    updated.ok();
  });
}

export function mountProxy(route, context, id) {
  const updated = updatedLine(context.refreshSeconds);
  const state = h("div");
  const dump = h("div", { class: "card" }, h("h3", { text: "Config dump" }), h("button", { "data-testid": "load-config-dump", onclick: () => loadDump() }, "Load Envoy's config dump"));
  replace(
    context.root,
    h(
      "div",
      { class: "proxy-page" },
      h("div", { class: "toolbar" }, h("h2", { "data-testid": "page-title", text: id }), routeLink("/proxies", "← all proxies"), updated.element),
      state,
      dump,
    ),
  );
  const loadDump = async () => {
    replace(dump, h("h3", { text: "Config dump" }), h("p", { class: "muted", text: "loading…" }));
    try {
      const config = await getJson(`proxies/${segments(id)}/config_dump`, {}, { signal: context.poll.signal });
      replace(dump, h("h3", { text: "Config dump" }), h("div", { class: "json", "data-testid": "config-dump" }, jsonTree(config)));
    } catch (error) {
      if (error.name === "AbortError") return;
      replace(dump, h("h3", { text: "Config dump" }), errorBox(`Loading the config dump of ${id}`, error));
    }
  };
  context.poll.every(async (signal) => {
    let proxy;
    try {
      proxy = await getJson(`proxies/${segments(id)}`, {}, { signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      updated.failed();
      replace(state, errorBox(`Loading proxy ${id}`, error));
      return;
    }
    const types = typeNames([proxy]);
    replace(
      state,
      h(
        "div",
        { class: "card" },
        h("dl", { class: "facts" },
          h("dt", { text: "pod" }), h("dd", { text: `${proxy.namespace ?? ""}/${proxy.pod ?? ""}` }),
          h("dt", { text: "type" }), h("dd", { text: proxy.type ?? "" }),
          h("dt", { text: "connected since" }), h("dd", { text: fmt.dateTime(proxy.connected_since) }),
          h("dt", { text: "certificate" }), h("dd", {}, certificate(proxy.certificate), proxy.certificate ? h("span", { class: "muted", text: ` (not after ${fmt.dateTime(proxy.certificate.not_after)}, serial ${proxy.certificate.serial ?? "?"})` }) : null),
        ),
        h(
          "table",
          { class: "table", "data-testid": "sync-table" },
          h("thead", {}, h("tr", {}, ["xDS type", "state", "Envoy's message"].map((c) => h("th", { text: c })))),
          h(
            "tbody",
            {},
            types.map((t) => {
              const entry = proxy.types[t] ?? {};
              return h(
                "tr",
                { "data-testid": `proxy-${proxy.proxy ?? id}-${t}`, "data-state": entry.state ?? "", class: entry.state === "NACK" ? "nack-row" : "" },
                h("td", { text: t }),
                h("td", {}, stateBadge(entry.state)),
                h("td", {}, errorCell(entry)),
              );
            }),
          ),
        ),
      ),
    );
    updated.ok();
  });
}
