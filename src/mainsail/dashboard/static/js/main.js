// The app shell: hash routes to pages; each page mounts into <main> and returns its cleanup
// (timers, in-flight requests), so leaving a page stops its refreshes.

import { errorBox, h, replace } from "./dom.js";
import * as graphPage from "./graph_page.js";
import * as signalsPage from "./signals_page.js";
import * as configPage from "./config_page.js";
import * as proxiesPage from "./proxies_page.js";
import * as tracesPage from "./traces_page.js";

const DEFAULT_REFRESH_SECONDS = 5;

/** `#/services/default/reviews?window=5m` → {path: ["services", "default", "reviews"], query}. */
export function parseHash(hash) {
  const text = hash.replace(/^#/, "");
  const [pathPart, queryPart] = text.split("?", 2);
  const path = pathPart.split("/").filter(Boolean).map((p) => decodeURIComponent(p));
  return { path, query: new URLSearchParams(queryPart ?? "") };
}

function refreshSeconds(query) {
  const value = Number(query.get("refresh"));
  return Number.isFinite(value) && value > 0 ? value : DEFAULT_REFRESH_SECONDS;
}

const ROUTES = [
  { match: (p) => p.length === 1 && p[0] === "graph", nav: "graph", mount: (r, c) => graphPage.mount(r, c) },
  { match: (p) => p.length === 1 && p[0] === "mesh", nav: "mesh", mount: (r, c) => signalsPage.mountMesh(r, c) },
  {
    match: (p) => p.length === 3 && p[0] === "services",
    nav: "mesh",
    mount: (r, c) => signalsPage.mountEntity(r, c, "services", r.path[1], r.path[2]),
  },
  {
    match: (p) => p.length === 3 && p[0] === "workloads",
    nav: "mesh",
    mount: (r, c) => signalsPage.mountEntity(r, c, "workloads", r.path[1], r.path[2]),
  },
  { match: (p) => p.length === 1 && p[0] === "config", nav: "config", mount: (r, c) => configPage.mount(r, c) },
  { match: (p) => p.length === 1 && p[0] === "proxies", nav: "proxies", mount: (r, c) => proxiesPage.mountList(r, c) },
  {
    match: (p) => p.length === 2 && p[0] === "proxies",
    nav: "proxies",
    mount: (r, c) => proxiesPage.mountProxy(r, c, r.path[1]),
  },
  { match: (p) => p.length === 1 && p[0] === "traces", nav: "traces", mount: (r, c) => tracesPage.mountList(r, c) },
  {
    match: (p) => p.length === 2 && p[0] === "traces",
    nav: "traces",
    mount: (r, c) => tracesPage.mountTrace(r, c, r.path[1]),
  },
];

/**
 * Runs the page's `load` now and then every `seconds` after the previous run finished (never two
 * at once; `now()` asks for an extra run, e.g. after the window changed). `load` gets an
 * AbortSignal that fires when the page is left.
 */
function poller(seconds) {
  const controller = new AbortController();
  let timer = null;
  let load = null;
  let running = false;
  let again = false;
  const run = async () => {
    if (controller.signal.aborted || load === null) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    if (timer !== null) clearTimeout(timer);
    try {
      await load(controller.signal);
    } catch (error) {
      if (error.name !== "AbortError") console.error(error);
    }
    running = false;
    if (controller.signal.aborted) return;
    if (again) {
      again = false;
      run();
      return;
    }
    timer = setTimeout(run, seconds * 1000);
  };
  return {
    signal: controller.signal,
    every(f) {
      load = f;
      run();
    },
    now: run,
    stop() {
      controller.abort();
      if (timer !== null) clearTimeout(timer);
    },
  };
}

let cleanup = null;

function render() {
  if (cleanup) cleanup();
  cleanup = null;
  const route = parseHash(location.hash);
  if (route.path.length === 0) {
    location.replace("#/graph");
    return;
  }
  const root = document.getElementById("page");
  const found = ROUTES.find((r) => r.match(route.path));
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", found !== undefined && link.dataset.nav === found.nav);
  }
  if (!found) {
    replace(root, errorBox(`Opening #${route.path.join("/")}`, new Error("no such page")));
    return;
  }
  replace(root);
  document.title = `${route.path.join(" / ")} · Mainsail`;
  const refresh = refreshSeconds(route.query);
  const poll = poller(refresh);
  const context = { root, refreshSeconds: refresh, poll, query: route.query, path: route.path };
  let pageCleanup = null;
  try {
    pageCleanup = found.mount(route, context);
  } catch (error) {
    replace(root, errorBox("Showing this page", error));
  }
  cleanup = () => {
    poll.stop();
    if (typeof pageCleanup === "function") pageCleanup();
  };
}

window.addEventListener("hashchange", render);
render();

