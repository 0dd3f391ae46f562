"""How an outbound cluster secures its upstream connections (istiod's ``cluster_tls.go`` and
``buildUpstreamTLSSettings``, istio-internals §3.4 "TLS modes", §4.2).

1. The DestinationRule's ``tls`` (after port-level settings and subsets) wins.
2. Else auto mTLS: when ``meshConfig.enableAutoMtls``, the service is not MESH_EXTERNAL and the
   PeerAuthentication mode of the service's namespace (else the mesh's) is not DISABLE, the
   cluster gets the transport socket matches ``tlsMode-istio`` (ISTIO_MUTUAL, for endpoints EDS
   marks ``tlsMode: istio``) and ``tlsMode-disabled`` (plaintext). Passthrough clusters have no
   endpoint metadata to match: mTLS there only if every known endpoint has a sidecar.

Everything read here is in the translation cache's key for service clusters: the service and
its endpoints (service accounts, sidecar labels), the DestinationRules, the mesh settings and
the PeerAuthentications (``xds.generate``).

Reads: DestinationRule ``tls``, PeerAuthentication (namespace/mesh mode), MeshConfig
(``enableAutoMtls``, trust domain aliases), the service's workloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2

from mainsail import naming
from mainsail.config.istio.destination_rule import ClientTLSSettings
from mainsail.registry.model import MeshService, ServiceEndpoint
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.security import namespace_mtls_mode
from mainsail.xds.protos import struct
from mainsail.xds.tls import (
    client_tls_context,
    istio_mutual_context,
    raw_buffer_transport_socket,
    tls_transport_socket,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamTls:
    """What to set on the cluster; all empty means plaintext."""

    transport_socket: base_pb2.TransportSocket | None = None
    socket_matches: tuple[cluster_pb2.Cluster.TransportSocketMatch, ...] = field(default=())
    # SIMPLE/MUTUAL without ``sni`` / without SANs: Envoy derives them from the request.
    auto_sni: bool = False
    auto_san_validation: bool = False


def service_accounts(snapshot: MeshSnapshot, service: MeshService) -> tuple[str, ...]:
    """The identities behind a service (istiod's ``PushContext.ServiceAccounts``): a
    ServiceEntry's ``subjectAltNames`` and the SPIFFE IDs of the workloads' service accounts,
    each also under every trust-domain alias, sorted."""
    mesh = snapshot.mesh
    accounts: set[str] = set(service.subject_alt_names)
    for port in service.ports:
        for endpoint in snapshot.endpoints_of(service.hostname, port.port):
            workload = endpoint.workload
            if not workload.service_account:
                continue  # an endpoint that names no identity
            for domain in (mesh.trust_domain, *mesh.trust_domain_aliases):
                accounts.add(
                    naming.build_spiffe_id(domain, workload.namespace, workload.service_account)
                )
    return tuple(sorted(accounts))


def has_sidecar(endpoint: ServiceEndpoint) -> bool:
    return endpoint.labels.get(naming.TLS_MODE_LABEL) == naming.TLS_MODE_ISTIO


def upstream_tls(
    snapshot: MeshSnapshot,
    service: MeshService,
    port: int,
    subset: str,
    settings: ClientTLSSettings | None,
    *,
    cluster: cluster_pb2.Cluster,
    http2: bool,
    credential_names: bool,
) -> UpstreamTls:
    """The upstream TLS of ``cluster`` (service ``port``, ``subset``) under the rule's ``tls``
    ``settings`` (None: no rule says). ``credential_names``: the proxy may read
    ``credentialName`` secrets (a gateway, or the rule has a ``workloadSelector``)."""
    sni = naming.build_sni(port, service.hostname, subset)
    if settings is not None:
        mode = settings.mode or "DISABLE"
        accounts: tuple[str, ...] = ()
        if mode == "ISTIO_MUTUAL" or service.registry == "ServiceEntry":
            accounts = service_accounts(snapshot, service)
        context = client_tls_context(
            settings,
            cluster_name=cluster.name,
            default_sni=sni,
            service_accounts=accounts,
            http2=http2,
            credential_names=credential_names,
        )
        if context is None:
            return UpstreamTls()
        simple = mode in ("SIMPLE", "MUTUAL")
        auto_sni = simple and not settings.sni
        # Decided on the rule's own SANs, before a ServiceEntry's fill in (as istiod does).
        auto_san = auto_sni and not settings.subject_alt_names and not settings.insecure_skip_verify
        return UpstreamTls(
            transport_socket=tls_transport_socket(context),
            auto_sni=auto_sni,
            auto_san_validation=auto_san,
        )
    if not snapshot.mesh.enable_auto_mtls or service.mesh_external:
        return UpstreamTls()
    if namespace_mtls_mode(snapshot, service.namespace) == "DISABLE":
        return UpstreamTls()
    context = istio_mutual_context(
        sni=sni, subject_alt_names=service_accounts(snapshot, service), http2=http2
    )
    socket = tls_transport_socket(context)
    if cluster.type == cluster_pb2.Cluster.ORIGINAL_DST and not cluster.HasField("cluster_type"):
        # No endpoint metadata to match per connection: mTLS only if every endpoint can take it
        # (istiod's ``BestEffortInferServiceMTLSMode`` for passthrough services).
        endpoints = snapshot.endpoints_of(service.hostname, port)
        if endpoints and all(has_sidecar(e) for e in endpoints):
            return UpstreamTls(transport_socket=socket)
        return UpstreamTls()
    if cluster.HasField("cluster_type") and not cluster.HasField("load_assignment"):
        # The local platform's dynamic forward proxy (a ``resolution: NONE`` entry): its hosts
        # are whatever the request names, none of them known to have a sidecar.
        return UpstreamTls()
    disabled = cluster_pb2.Cluster.TransportSocketMatch(
        name=naming.build_transport_socket_match_name("disabled"),
        transport_socket=raw_buffer_transport_socket(),
    )
    disabled.match.SetInParent()  # istiod's empty match: every other endpoint
    return UpstreamTls(
        socket_matches=(
            cluster_pb2.Cluster.TransportSocketMatch(
                name=naming.build_transport_socket_match_name(naming.TLS_MODE_ISTIO),
                match=struct({naming.TLS_MODE_METADATA_KEY: naming.TLS_MODE_ISTIO}),
                transport_socket=socket,
            ),
            disabled,
        )
    )
