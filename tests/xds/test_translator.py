"""``Translator`` shares what does not depend on the proxy itself, and changes nothing else."""

from __future__ import annotations

import dataclasses

from mainsail import naming
from mainsail.xds.generate import Translator, generate
from tests.testing.bookinfo_mesh import bookinfo


def test_translator_output_equals_generate_for_every_proxy() -> None:
    mesh = bookinfo("destination-rule-all.yaml", "virtual-service-reviews-50-v3.yaml")
    translator = Translator(mesh.snapshot)
    for node in (mesh.productpage(), mesh.gateway(), mesh.productpage()):
        shared = translator.generate(node)
        alone = generate(mesh.snapshot, node)
        for type_url in naming.PUSH_ORDER:
            assert {n: r.version for n, r in shared.of_type(type_url).items()} == {
                n: r.version for n, r in alone.of_type(type_url).items()
            }


def test_proxies_of_one_namespace_share_serialized_service_clusters_and_routes() -> None:
    mesh = bookinfo("destination-rule-all.yaml")
    translator = Translator(mesh.snapshot)
    first = mesh.productpage()
    other_ip = mesh.ip("details-v1-0")
    second = dataclasses.replace(
        first, ip=other_ip, pod_name="details-v1-0", labels=(("app", "details"),)
    )
    a, b = translator.generate(first), translator.generate(second)
    name = "outbound|9080|v1|reviews.default.svc.cluster.local"
    assert a.of_type(naming.CLUSTER_TYPE)[name] is b.of_type(naming.CLUSTER_TYPE)[name]
    assert a.of_type(naming.ROUTE_TYPE)["http_proxy"] is b.of_type(naming.ROUTE_TYPE)["http_proxy"]
    # Listeners bind each proxy's own address.
    assert set(a.of_type(naming.LISTENER_TYPE)).isdisjoint(b.of_type(naming.LISTENER_TYPE))


def test_source_labels_keep_route_tables_per_workload() -> None:
    extra = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{sourceLabels: {app: productpage}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
"""
    mesh = bookinfo("destination-rule-all.yaml", extra=extra)
    translator = Translator(mesh.snapshot)
    first = mesh.productpage()
    second = dataclasses.replace(first, labels=(("app", "details"),))
    a = translator.generate(first).of_type(naming.ROUTE_TYPE)["http_proxy"]
    b = translator.generate(second).of_type(naming.ROUTE_TYPE)["http_proxy"]
    assert a.version != b.version
