"""The Grafana dashboards of ``samples/addons/grafana`` (Istio's Mesh, Service and Workload
dashboards): well-formed Grafana JSON, in sync with their generator, and every query of every
panel and variable answered with data by a real Prometheus scraping the demo's proxies while
BookInfo traffic flows through the gateway and TCP traffic through tcp-echo."""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from mainsail.samples.addons.grafana.__main__ import BUILDERS, render
from mainsail.testing.mesh import LocalMesh, http_get
from mainsail.testing.waiting import wait_for
from tests.e2e_telemetry.helpers import echo_once, tcp_echo_address

GRAFANA = Path(str(resources.files("mainsail.samples.addons.grafana")))
FILES = tuple(sorted(BUILDERS))
REPO_COPY = Path(__file__).parents[2] / "samples" / "addons" / "grafana"

# Grafana's own variables, as Grafana would fill them for a 1 s scrape interval: a rate window
# of several scrapes, so every rate has two samples.
BUILTINS = {"__rate_interval": "30s", "__interval": "5s", "__range": "5m"}
# A variable reference as Grafana reads one: $name or ${name} (``${name:format}`` unused here).
VARIABLE = re.compile(r"\$\{?([A-Za-z_]\w*)")
ISTIO_METRICS = {
    "istio_requests_total",
    "istio_request_duration_milliseconds_bucket",
    "istio_request_bytes_bucket",
    "istio_response_bytes_bucket",
    "istio_tcp_connections_opened_total",
    "istio_tcp_connections_closed_total",
    "istio_tcp_sent_bytes_total",
    "istio_tcp_received_bytes_total",
}

# What each dashboard is looked at for: every target must have data under at least one of
# these choices (the HTTP panels for an HTTP service, the TCP ones for tcp-echo; a workload's
# inbound HTTP for productpage-v1, outbound TCP for sleep, inbound TCP for tcp-echo).
BINDINGS: dict[str, tuple[dict[str, str], ...]] = {
    "mesh.json": ({},),
    "service.json": (
        {"namespace": "default", "service": "reviews.default.svc.cluster.local"},
        {"namespace": "default", "service": "tcp-echo.default.svc.cluster.local"},
    ),
    "workload.json": (
        {"namespace": "default", "workload": "productpage-v1"},
        {"namespace": "default", "workload": "tcp-echo"},
        {"namespace": "default", "workload": "sleep"},
    ),
}
# Targets that only have data under conditions the demo lacks, by (file, panel title), with the
# reason: for these the queries must parse but may be empty. None today: 4xx/5xx counts end
# in ``or vector(0)``, and nothing in Istio's dashboards is gRPC-only.
PARSE_ONLY: dict[tuple[str, str], str] = {}

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GRAFANA / name).read_text())
    return loaded


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = dashboard["templating"]["list"]
    return found


def _variable_query(variable: dict[str, Any]) -> str:
    query = variable["query"]
    return str(query["query"] if isinstance(query, dict) else query)


def _targets(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in _panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            yield panel, target


# --- the files themselves ---------------------------------------------------------------


def test_the_repository_path_is_the_package_data() -> None:
    # samples/ is the package's samples directory: users find the files where Istio's are.
    assert sorted(p.name for p in REPO_COPY.glob("*.json")) == list(FILES)


@pytest.mark.parametrize("name", FILES)
def test_files_are_what_the_generator_writes(name: str) -> None:
    assert (GRAFANA / name).read_text() == render(BUILDERS[name]()), (
        f"{name} is stale: run `python -m mainsail.samples.addons.grafana`"
    )


@pytest.mark.parametrize("name", FILES)
def test_dashboard_is_importable_grafana_json(name: str) -> None:
    dashboard = _load(name)
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] and dashboard["title"]
    # The Import page asks for a Prometheus for DS_PROMETHEUS; provisioning uses the variable.
    [source] = dashboard["__inputs"]
    assert (source["name"], source["type"], source["pluginId"]) == (
        "DS_PROMETHEUS",
        "datasource",
        "prometheus",
    )
    first = _variables(dashboard)[0]
    assert (first["name"], first["type"], first["query"]) == (
        "DS_PROMETHEUS",
        "datasource",
        "prometheus",
    )
    ids = [p["id"] for p in _panels(dashboard["panels"])]
    assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
    titles = [p["title"] for p in _panels(dashboard["panels"])]
    assert len(titles) == len(set(titles)), f"{name}: duplicate panel titles"
    for panel, target in _targets(dashboard):
        where = f"{name} panel {panel['id']} ({panel['title']}) target {target['refId']}"
        assert (
            panel["datasource"]
            == target["datasource"]
            == {
                "type": "prometheus",
                "uid": "${DS_PROMETHEUS}",
            }
        ), where
        assert set(re.findall(r"\bistio_\w+", target["expr"])) <= ISTIO_METRICS, where
    for panel in _panels(dashboard["panels"]):
        refs = [t["refId"] for t in panel.get("targets", [])]
        assert len(refs) == len(set(refs)), f"{name} panel {panel['title']}: duplicate refIds"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, f"{name} panel {panel['title']} is too wide"


def _used_variables(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(variable name, where) for every reference in queries, variables and links."""
    for panel, target in _targets(dashboard):
        for used in VARIABLE.findall(target["expr"]):
            yield used, f"panel {panel['title']!r} target {target['refId']}"
        for used in VARIABLE.findall(json.dumps(target["datasource"])):
            yield used, f"panel {panel['title']!r} datasource"
    for variable in _variables(dashboard)[1:]:
        for used in VARIABLE.findall(_variable_query(variable)):
            yield used, f"variable {variable['name']}"


@pytest.mark.parametrize("name", FILES)
def test_every_variable_used_is_defined_before_use(name: str) -> None:
    dashboard = _load(name)
    defined = [v["name"] for v in _variables(dashboard)]
    assert len(defined) == len(set(defined))
    for used, where in _used_variables(dashboard):
        assert used in defined or used in BUILTINS, f"{name}: ${used} in {where} is not defined"
    # A variable's query may only use the variables above it (Grafana resolves in order).
    for index, variable in enumerate(_variables(dashboard)):
        for used in VARIABLE.findall(_variable_query(variable) if index else ""):
            assert used in defined[:index], f"{name}: {variable['name']} uses ${used} first"
    # Data links use Grafana's ``${__data…}``/``${__value…}``/``${__url_time_range}`` only.
    for panel in _panels(dashboard["panels"]):
        for used in VARIABLE.findall(json.dumps(panel.get("fieldConfig", {}))):
            assert used.startswith("__"), f"{name}: link in {panel['title']!r} uses ${used}"


# --- against a real Prometheus ------------------------------------------------------------


def _api(base: str, path: str, params: Mapping[str, str]) -> dict[str, Any]:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    try:
        with _NO_PROXY.open(url, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as error:  # a bad query is a 400 with the parser's reason
        answer = json.loads(error.read())
    return answer


def _query(base: str, promql: str) -> list[dict[str, Any]]:
    answer = _api(base, "/api/v1/query", {"query": promql})
    assert answer["status"] == "success", f"{promql}\n{answer.get('error')}"
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def _ready(base: str) -> bool:
    with _NO_PROXY.open(f"{base}/-/ready", timeout=10) as response:
        return bool(response.status == 200)


def _has_data(result: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(float(r["value"][1])) for r in result)


def _substitute(text: str, values: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, BUILTINS.get(name, match.group(0)))

    return re.sub(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)", value, text)


def _choices(base: str, variable: dict[str, Any], values: Mapping[str, str]) -> list[str]:
    """What Grafana would list for a query variable: ``label_values(selector, label)`` through
    Prometheus' label API, ``query_result(expr)`` as Grafana's lines read by the regex."""
    query = _substitute(_variable_query(variable), values)
    if match := re.fullmatch(r"label_values\((.*), (\w+)\)", query):
        selector, label = match.groups()
        answer = _api(base, f"/api/v1/label/{label}/values", {"match[]": selector})
        assert answer["status"] == "success", f"{query}\n{answer.get('error')}"
        return [str(v) for v in answer["data"]]
    match = re.fullmatch(r"query_result\((.*)\)", query)
    assert match is not None, f"variable {variable['name']}: unexpected query {query}"
    regex = re.compile(variable["regex"].strip("/"))
    choices = []
    for row in _query(base, match.group(1)):
        labels = ", ".join(f'{k}="{v}"' for k, v in row["metric"].items())
        line = f"{{{labels}}} {row['value'][1]} {row['value'][0]}"
        if found := regex.search(line):  # Grafana's regex.exec
            choices.append(found.group(1))
    return choices


def _values(dashboard: dict[str, Any], binding: Mapping[str, str]) -> dict[str, str]:
    """The binding, and "All" (``.*``, the dashboards' allValue) for the other variables."""
    values = dict(binding)
    for variable in _variables(dashboard)[1:]:
        if variable["includeAll"]:
            values.setdefault(variable["name"], variable["allValue"])
    return values


@pytest.fixture
def traffic(telemetry_mesh: LocalMesh) -> Iterator[None]:
    """BookInfo requests through the gateway and tcp-echo connections from ``sleep``, until
    the test ends (a dashboard rate needs traffic inside its window)."""
    mesh = telemetry_mesh
    stop = threading.Event()
    address = tcp_echo_address(mesh)

    def http() -> None:
        while not stop.is_set():
            http_get(mesh.gateway_url("/productpage"))

    def tcp() -> None:
        # Istio's TCP byte counters move when a connection ends: many short connections.
        while not stop.wait(0.2):
            echo_once(address)

    workers = [threading.Thread(target=f, daemon=True) for f in (http, tcp)]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=15)


async def test_every_dashboard_query_answers_with_data(
    telemetry_mesh: LocalMesh, prometheus: str, traffic: None
) -> None:
    await wait_for(lambda: _ready(prometheus), timeout=60, interval=0.5, message="Prometheus up")
    for name in FILES:
        dashboard = _load(name)
        bindings = [_values(dashboard, b) for b in BINDINGS[name]]
        # Each variable lists the value the binding picks; an "All" filter's query only has
        # to answer (its list may be empty: TCP peers without metadata exchange have no
        # workload labels, and All is then still ``.*``).
        for values in bindings:
            for variable in _variables(dashboard)[1:]:
                wanted = values[variable["name"]]
                if variable["includeAll"]:
                    await asyncio.to_thread(_choices, prometheus, variable, values)
                    continue

                def listed(
                    v: dict[str, Any] = variable,
                    want: str = wanted,
                    chosen: dict[str, str] = values,
                ) -> bool:
                    return want in _choices(prometheus, v, chosen)

                await wait_for(
                    listed,
                    timeout=90,
                    interval=1,
                    message=f"{name} variable {variable['name']} listing {wanted!r} for {values}",
                )
        for panel, target in _targets(dashboard):
            where = f"{name} panel {panel['id']} ({panel['title']}) target {target['refId']}"
            exprs = [_substitute(target["expr"], v) for v in bindings]
            for expr in exprs:
                assert "$" not in expr, f"{where}: unresolved variable in {expr}"
                await asyncio.to_thread(_query, prometheus, expr)  # parses, or fails here
            if (name, panel["title"]) in PARSE_ONLY:
                continue

            def answered(exprs: list[str] = exprs) -> bool:
                return any(_has_data(_query(prometheus, e)) for e in exprs)

            await wait_for(answered, timeout=90, interval=1, message=f"data for {where}")


def _expr(name: str, title: str, ref: str = "A") -> str:
    [expr] = [
        str(t["expr"])
        for p, t in _targets(_load(name))
        if p["title"] == title and t["refId"] == ref
    ]
    return expr


# What the panels must show for BookInfo and tcp-echo, not only that they show something:
# (file, panel, target, variables, label, values that must all appear).
EXPECTED_ROWS: tuple[tuple[str, str, str, dict[str, str], str, set[str]], ...] = (
    (
        "mesh.json",
        "HTTP/gRPC Workloads",
        "requests",
        {},
        "destination_workload",
        {"productpage-v1", "details-v1", "reviews-v1", "reviews-v2", "reviews-v3", "ratings-v1"},
    ),
    ("mesh.json", "HTTP/gRPC Workloads", "p99", {}, "destination_workload", {"productpage-v1"}),
    ("mesh.json", "TCP Workloads", "recv", {}, "destination_workload", {"tcp-echo"}),
    (
        "service.json",
        "Incoming Requests By Service Workload And Response Code",
        "A",
        {"service": "reviews.default.svc.cluster.local"},
        "destination_workload",
        {"reviews-v1", "reviews-v2", "reviews-v3"},
    ),
    (
        "service.json",
        "Incoming Requests By Source And Response Code",
        "A",
        {"service": "reviews.default.svc.cluster.local"},
        "connection_security_policy",
        {"mutual_tls"},
    ),
    (
        "workload.json",
        "Incoming Requests By Source And Response Code",
        "A",
        {"namespace": "default", "workload": "productpage-v1"},
        "source_workload",
        {"istio-ingressgateway"},
    ),
    (
        "workload.json",
        "Outgoing Requests By Destination And Response Code",
        "A",
        {"namespace": "default", "workload": "productpage-v1"},
        "destination_service",
        {"details.default.svc.cluster.local", "reviews.default.svc.cluster.local"},
    ),
    (
        "workload.json",
        "Bytes Sent on Outgoing TCP Connection",
        "A",
        {"namespace": "default", "workload": "sleep"},
        "destination_service",
        {"tcp-echo.default.svc.cluster.local"},
    ),
)


async def test_dashboards_show_bookinfo_and_tcp_echo(
    telemetry_mesh: LocalMesh, prometheus: str, traffic: None
) -> None:
    await wait_for(lambda: _ready(prometheus), timeout=60, interval=0.5, message="Prometheus up")
    for name, title, ref, binding, label, wanted in EXPECTED_ROWS:
        values = _values(_load(name), binding)
        expr = _substitute(_expr(name, title, ref), values)

        def all_shown(expr: str = expr, label: str = label, wanted: set[str] = wanted) -> bool:
            shown = {str(r["metric"].get(label, "")) for r in _query(prometheus, expr)}
            return wanted <= shown

        await wait_for(
            all_shown, timeout=90, interval=1, message=f"{name} {title!r}: {label} {wanted}"
        )
