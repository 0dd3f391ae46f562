"""Run the analyzers over YAML text; a small mesh (reviews v1, an ingress gateway) to build on."""

from __future__ import annotations

from typing import Any

from mainsail.analysis import Message, analyze
from mainsail.config.parse import parse_documents

# reviews (v1 only) with an HTTP port, and an ingress gateway workload behind port 80 -> 8080.
MESH = """
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1}
spec:
  selector: {matchLabels: {app: reviews, version: v1}}
  template:
    metadata: {labels: {app: reviews, version: v1}}
    spec: {containers: [{name: reviews}]}
---
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system, labels: {istio: ingressgateway}}
spec:
  selector: {istio: ingressgateway}
  ports: [{name: http2, port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  template:
    metadata: {labels: {istio: ingressgateway}}
    spec: {containers: [{name: istio-proxy}]}
"""


def messages(text: str, *, with_mesh: bool = True, namespace: str | None = None) -> list[Message]:
    parsed = parse_documents((MESH + "\n---\n" if with_mesh else "") + text, "test.yaml")
    origins = {r.key: o for r, o in zip(parsed.resources, parsed.origins, strict=True)}
    return list(
        analyze(
            parsed.resources,
            origins=origins,
            read_errors=parsed.errors,
            documents=parsed.documents,
            namespace=namespace,
        )
    )


def lines(text: str, **kwargs: Any) -> list[str]:
    """The messages as istioctl prints them, without the ``file:line`` reference (the text under
    test is the same wherever the document sits; ``test_lines`` pins the references)."""
    return [m.render(reference=False) for m in messages(text, **kwargs)]


def codes(text: str, **kwargs: Any) -> list[str]:
    return [m.code for m in messages(text, **kwargs)]
