"""Auto mTLS and DestinationRule ``tls`` on outbound clusters, and the EDS marks, for the cases
the golden files do not show: the mesh switch, mesh-wide vs namespace modes, passthrough
clusters, trust-domain aliases and a ServiceEntry's ``subjectAltNames``."""

from __future__ import annotations

from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from mainsail import naming
from mainsail.config.mesh import MeshConfig
from mainsail.config.parse import parse_documents
from mainsail.snapshot.mesh_snapshot import build_snapshot
from mainsail.xds.generate import generate
from tests.xds.cases import CASES_DIR, Case, proxy_node

REVIEWS = "outbound|9080||reviews.default.svc.cluster.local"
DETAILS = "outbound|80||details.other.svc.cluster.local"


def _config(extra: str = "", **mesh: Any) -> dict[str, dict[str, Any]]:
    base = (CASES_DIR / "_base.yaml").read_text()
    case = Case("unit", f"{extra}\n---\n{base}" if extra else base)
    parsed = parse_documents(case.text, source="unit.yaml")
    assert parsed.ok, [str(e) for e in parsed.errors]
    snapshot = build_snapshot(parsed.resources, MeshConfig.model_validate(mesh))
    config = generate(snapshot, proxy_node(case))
    clusters = {}
    for name, resource in config.of_type(naming.CLUSTER_TYPE).items():
        cluster = cluster_pb2.Cluster()
        resource.body.Unpack(cluster)
        clusters[name] = cluster
    endpoints = {}
    for name, resource in config.of_type(naming.ENDPOINT_TYPE).items():
        assignment = endpoint_pb2.ClusterLoadAssignment()
        resource.body.Unpack(assignment)
        endpoints[name] = assignment
    return {"clusters": clusters, "endpoints": endpoints}


def _auto(cluster: cluster_pb2.Cluster) -> bool:
    return [m.name for m in cluster.transport_socket_matches] == [
        "tlsMode-istio",
        "tlsMode-disabled",
    ]


def _upstream(socket: Any) -> tls_pb2.UpstreamTlsContext:
    context = tls_pb2.UpstreamTlsContext()
    socket.typed_config.Unpack(context)
    return context


def _sans(context: tls_pb2.UpstreamTlsContext) -> list[str]:
    validation = context.common_tls_context.combined_validation_context.default_validation_context
    return [m.matcher.exact for m in validation.match_typed_subject_alt_names]


def test_auto_mtls_is_a_mesh_switch() -> None:
    assert _auto(_config()["clusters"][REVIEWS])
    off = _config(enableAutoMtls=False)["clusters"][REVIEWS]
    assert not off.transport_socket_matches and not off.HasField("transport_socket")


def test_namespace_policy_overrides_the_mesh_wide_one() -> None:
    policies = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: DISABLE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: other}
spec: {mtls: {mode: STRICT}}
"""
    clusters = _config(policies)["clusters"]
    assert not clusters[REVIEWS].transport_socket_matches  # mesh-wide DISABLE
    assert _auto(clusters[DETAILS])  # its namespace says STRICT


def test_workload_policies_do_not_turn_auto_mtls_off_for_the_service() -> None:
    workload = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: reviews, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  mtls: {mode: DISABLE}
"""
    config = _config(workload)
    assert _auto(config["clusters"][REVIEWS])
    # ...but EDS leaves the reviews endpoints unmarked: they are reached in plaintext.
    marked = [
        lb.metadata.filter_metadata.get(naming.TRANSPORT_SOCKET_MATCH_METADATA)
        for group in config["endpoints"][REVIEWS].endpoints
        for lb in group.lb_endpoints
    ]
    assert marked and not any(marked)


def test_passthrough_cluster_takes_mtls_only_when_every_endpoint_has_a_sidecar() -> None:
    passthrough = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: lb, namespace: default}}
spec:
  host: {host}
  trafficPolicy: {{loadBalancer: {{simple: PASSTHROUGH}}}}
"""
    ratings = "outbound|9080||ratings.default.svc.cluster.local"
    all_sidecars = _config(passthrough.format(host="ratings"))["clusters"][ratings]
    assert all_sidecars.type == cluster_pb2.Cluster.ORIGINAL_DST
    assert all_sidecars.HasField("transport_socket") and not all_sidecars.transport_socket_matches
    assert _upstream(all_sidecars.transport_socket).sni == (
        "outbound_.9080_._.ratings.default.svc.cluster.local"
    )
    mixed = _config(passthrough.format(host="reviews"))["clusters"][REVIEWS]  # v3 has none
    assert not mixed.HasField("transport_socket") and not mixed.transport_socket_matches


def test_identities_include_every_trust_domain_alias() -> None:
    cluster = _config(trustDomainAliases=["old.example"])["clusters"][REVIEWS]
    context = _upstream(cluster.transport_socket_matches[0].transport_socket)
    assert _sans(context) == [
        "spiffe://cluster.local/ns/default/sa/default",
        "spiffe://old.example/ns/default/sa/default",
    ]


def test_service_entry_subject_alt_names_back_a_simple_rule_without_sans() -> None:
    entry = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: default}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  subjectAltNames: [api.example.com]
  ports: [{number: 443, name: https, protocol: HTTPS}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: default}
spec:
  host: api.example.com
  trafficPolicy: {tls: {mode: SIMPLE}}
"""
    cluster = _config(entry)["clusters"]["outbound|443||api.example.com"]
    context = _upstream(cluster.transport_socket)
    # The entry's own names, not an identity for the host it resolves (it names none).
    assert _sans(context) == ["api.example.com"]
    external = _config(entry.split("---")[0])["clusters"]["outbound|443||api.example.com"]
    assert not external.HasField("transport_socket")  # MESH_EXTERNAL: no auto mTLS
