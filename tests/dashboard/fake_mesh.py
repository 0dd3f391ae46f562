"""A dashboard over a fixed little mesh (no processes): BookInfo-ish config, pods, ADS rows, a
trace, and a metrics window fed synthetic scrapes. For the API's unit tests."""

from __future__ import annotations

import time
from pathlib import Path

from mainsail.config.mesh import MeshConfig
from mainsail.config.parse import parse_documents
from mainsail.dashboard.metrics_window import MetricsWindow, reduce_scrape
from mainsail.dashboard.sources import DashboardSources
from mainsail.platform.pod import PodSpec
from mainsail.runtime.trace_collector import TraceStore
from mainsail.snapshot.mesh_snapshot import build_snapshot
from tests.dashboard.synthetic import Page, caller, server

CONFIG = """
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: productpage, namespace: default}
spec: {selector: {app: productpage}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1-0, namespace: default, labels: {app: reviews, version: v1}}
spec: {serviceAccountName: bookinfo-reviews, containers: [{name: reviews, ports: [{containerPort: 9080}]}]}
status: {podIP: 127.1.0.2, phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: productpage-v1-0, namespace: default, labels: {app: productpage, version: v1}}
spec: {serviceAccountName: bookinfo-productpage, containers: [{name: productpage, ports: [{containerPort: 9080}]}]}
status: {podIP: 127.1.0.3, phase: Running}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviewz}}]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bookinfo, namespace: default}
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http: [{route: [{destination: {host: productpage, port: {number: 9080}}}]}]
---
apiVersion: authentication.istio.io/v1alpha1
kind: Policy
metadata: {name: reviews-mtls, namespace: default}
spec:
  targets: [{name: reviews}]
  peers: [{mtls: {}}]
"""

TRACE_ID = "463ac35c9f6413ad48485a3953bb6124"


def pods() -> list[PodSpec]:
    return [
        PodSpec(name="reviews-v1-0", namespace="default", ip="127.1.0.2", workload_name="reviews-v1",
                labels={"app": "reviews", "version": "v1"}, service_account="bookinfo-reviews"),
        PodSpec(name="productpage-v1-0", namespace="default", ip="127.1.0.3",
                workload_name="productpage-v1", labels={"app": "productpage", "version": "v1"}),
        PodSpec(name="istio-ingressgateway-0", namespace="istio-system", ip="127.1.0.1",
                workload_name="istio-ingressgateway", proxy_type="router",
                labels={"app": "istio-ingressgateway", "istio": "ingressgateway"}),
    ]  # fmt: skip


def window(now: float) -> MetricsWindow:
    found = MetricsWindow(history=1800, interval=1)
    gw = caller("istio-system", "istio-ingressgateway", "istio-ingressgateway")
    pp_server = server("default", "productpage-v1", "productpage", "productpage")
    pp = caller("default", "productpage-v1", "productpage")
    rv = server("default", "reviews-v1", "reviews", "reviews")
    for t in range(20):
        gateway = Page().requests(t, reporter="source", **gw, **pp_server)
        productpage = Page().requests(t, **gw, **pp_server, connection_security_policy="mutual_tls")
        productpage.requests(2 * t, reporter="source", **pp, **rv)
        productpage.durations([3.0] * t, reporter="source", **pp, **rv)
        reviews = Page().requests(2 * t, **pp, **rv, connection_security_policy="mutual_tls")
        reviews.requests(
            t // 2, response_code="500", **pp, **rv, connection_security_policy="mutual_tls"
        )
        reviews.durations([2.0] * (2 * t), **pp, **rv)
        found.ingest(now - 20 + t, {
            "istio-system.istio-ingressgateway-0": reduce_scrape(gateway.text()),
            "default.productpage-v1-0": reduce_scrape(productpage.text()),
            "default.reviews-v1-0": reduce_scrape(reviews.text()),
        })  # fmt: skip
    return found


def trace_store() -> TraceStore:
    store = TraceStore()
    start = int(time.time() * 1_000_000)
    store.add([
        {"traceId": TRACE_ID, "id": "a1", "name": "productpage:9080/*", "kind": "SERVER",
         "timestamp": start, "duration": 9000,
         "localEndpoint": {"serviceName": "productpage.default"}, "tags": {"http.status_code": "200"}},
        {"traceId": TRACE_ID, "id": "b2", "parentId": "a1", "name": "reviews:9080/*",
         "kind": "CLIENT", "timestamp": start + 1000, "duration": 5000,
         "localEndpoint": {"serviceName": "productpage.default"}},
    ])  # fmt: skip
    return store


def status_rows() -> list[dict[str, object]]:
    return [
        {
            "proxy": "reviews-v1-0.default",
            "node_id": "sidecar~127.1.0.2~reviews-v1-0.default~default.svc.cluster.local",
            "mode": "delta",
            "connected_since": "2026-11-26T06:00:00+00:00",
            "generation": 3,
            "types": {
                "CDS": {"state": "SYNCED", "sent_version": "a", "acked_version": "a", "error": ""},
                "LDS": {
                    "state": "NACK",
                    "sent_version": "b",
                    "acked_version": "a",
                    "error": "Invalid regex",
                },
            },
        }
    ]


def sources(static_dir: Path) -> DashboardSources:
    objects = parse_documents(CONFIG, "fake").resources
    mesh = MeshConfig()
    snapshot = build_snapshot(objects, mesh)
    metrics = window(time.time())
    return DashboardSources(
        objects=lambda: objects,
        snapshot=lambda: snapshot,
        mesh=mesh,
        pods=pods,
        proxy_status=status_rows,
        traces=trace_store(),
        window=metrics,
        static_dir=static_dir,
    )
