"""Every name Mainsail gives Envoy, as ``build_*``/``parse_*`` pairs (Istio's exact formats).

See the reference fact sheet §2. Nothing else in the tree formats these strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# --- xDS type URLs, and the order a push sends them in (clusters and endpoints before
# listeners and routes, so nothing refers to a cluster Envoy does not have yet).
CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINT_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
PUSH_ORDER: tuple[str, ...] = (CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE)
SHORT_TYPE_NAMES: dict[str, str] = {
    CLUSTER_TYPE: "CDS",
    ENDPOINT_TYPE: "EDS",
    LISTENER_TYPE: "LDS",
    ROUTE_TYPE: "RDS",
    SECRET_TYPE: "SDS",
}

# --- special clusters and virtual hosts
PASSTHROUGH_CLUSTER = "PassthroughCluster"
BLACKHOLE_CLUSTER = "BlackHoleCluster"
INBOUND_PASSTHROUGH_CLUSTER = "InboundPassthroughCluster"
# Local platform: the dynamic forward proxy's DNS cache (``xds.forward_proxy``).
FORWARD_PROXY_DNS_CACHE = "mainsail_egress_dns"
ALLOW_ANY_VHOST = "allow_any"
BLOCK_ALL_VHOST = "block_all"
HTTP_PROXY_ROUTE = "http_proxy"
DEFAULT_ROUTE = "default"
XDS_CLUSTER = "xds-grpc"
SDS_CLUSTER = "sds-grpc"
PROMETHEUS_STATS_CLUSTER = "prometheus_stats"
WORKLOAD_SECRET = "default"
ROOT_CA_SECRET = "ROOTCA"

Direction = Literal["inbound", "outbound"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterKey:
    """The parts of ``<direction>|<port>|<subset>|<host>``."""

    direction: Direction
    port: int
    subset: str = ""
    host: str = ""


def build_cluster_name(key: ClusterKey) -> str:
    return f"{key.direction}|{key.port}|{key.subset}|{key.host}"


def build_outbound_cluster(port: int, host: str, subset: str = "") -> str:
    return build_cluster_name(ClusterKey(direction="outbound", port=port, subset=subset, host=host))


def build_inbound_cluster(target_port: int) -> str:
    return build_cluster_name(ClusterKey(direction="inbound", port=target_port))


def parse_cluster_name(name: str) -> ClusterKey | None:
    """The key of a service cluster name, or None for any other cluster (e.g. PassthroughCluster)."""
    parts = name.split("|")
    if len(parts) != 4 or parts[0] not in ("inbound", "outbound") or not parts[1].isdigit():
        return None
    direction: Direction = "inbound" if parts[0] == "inbound" else "outbound"
    return ClusterKey(direction=direction, port=int(parts[1]), subset=parts[2], host=parts[3])


def build_alt_stat_name(cluster_name: str) -> str:
    return f"{cluster_name};"


def build_listener_name(bind: str, port: int) -> str:
    """``0.0.0.0_9080``, ``10.96.12.7_3306``."""
    return f"{bind}_{port}"


def parse_listener_name(name: str) -> tuple[str, int] | None:
    bind, sep, port = name.rpartition("_")
    if not sep or not port.isdigit():
        return None
    return bind, int(port)


def build_outbound_route_name(port: int) -> str:
    """RDS name of the shared outbound HTTP listener on ``port``."""
    return str(port)


def build_gateway_http_route_name(port: int) -> str:
    return f"http.{port}"


def build_gateway_https_route_name(port: int, port_name: str, gateway: str, namespace: str) -> str:
    """RDS of one TLS-terminating HTTPS Gateway server (istiod's ``gatewayRDSRouteName``)."""
    return f"https.{port}.{port_name}.{gateway}.{namespace}"


def build_virtual_host_name(host: str, port: int) -> str:
    return f"{host}:{port}"


def parse_virtual_host_name(name: str) -> tuple[str, int] | None:
    host, sep, port = name.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host, int(port)


def build_inbound_virtual_host_name(service_port: int) -> str:
    return f"inbound|http|{service_port}"


def build_stat_prefix(direction: Direction, listener_or_chain: str) -> str:
    return f"{direction}_{listener_or_chain}"


# --- node ids: ``<type>~<ip>~<pod>.<ns>~<ns>.svc.<domain>``
ProxyType = Literal["sidecar", "router"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeId:
    proxy_type: ProxyType
    ip: str
    pod_name: str
    namespace: str
    domain: str = "cluster.local"

    @property
    def proxy_id(self) -> str:
        """``<pod>.<ns>``: how Istio names a proxy (``istioctl proxy-status`` first column)."""
        return f"{self.pod_name}.{self.namespace}"


def build_node_id(node: NodeId) -> str:
    return f"{node.proxy_type}~{node.ip}~{node.pod_name}.{node.namespace}~{node.namespace}.svc.{node.domain}"


def parse_node_id(text: str) -> NodeId:
    """Parse a node id; raises ValueError naming what is wrong."""
    parts = text.split("~")
    if len(parts) != 4:
        raise ValueError(f"node id {text!r}: want 4 '~'-separated parts, got {len(parts)}")
    proxy_type, ip, pod_ns, dns = parts
    if proxy_type not in ("sidecar", "router"):
        raise ValueError(f"node id {text!r}: unknown proxy type {proxy_type!r}")
    pod_name, sep, namespace = pod_ns.rpartition(".")
    if not sep or not pod_name or not namespace:
        raise ValueError(f"node id {text!r}: third part must be <pod>.<namespace>")
    prefix = f"{namespace}.svc."
    domain = dns[len(prefix) :] if dns.startswith(prefix) else "cluster.local"
    kind: ProxyType = "sidecar" if proxy_type == "sidecar" else "router"
    return NodeId(proxy_type=kind, ip=ip, pod_name=pod_name, namespace=namespace, domain=domain)


def build_service_fqdn(name: str, namespace: str, domain: str = "cluster.local") -> str:
    return f"{name}.{namespace}.svc.{domain}"


def build_spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


# --- mutual TLS (istio-internals §2, §4): SNI, SDS resource names, transport socket matches
def build_sni(port: int, host: str, subset: str = "", direction: Direction = "outbound") -> str:
    """istiod's ``BuildDNSSrvSubsetKey``: ``outbound_.9080_.v1_.reviews.default.svc.cluster.local``
    (the ISTIO_MUTUAL default SNI, and an AUTO_PASSTHROUGH gateway's cluster names)."""
    return f"{direction}_.{port}_.{subset}_.{host}"


def parse_sni(sni: str) -> ClusterKey | None:
    parts = sni.split("_.", 3)
    if len(parts) != 4 or parts[0] not in ("inbound", "outbound") or not parts[1].isdigit():
        return None
    direction: Direction = "inbound" if parts[0] == "inbound" else "outbound"
    return ClusterKey(direction=direction, port=int(parts[1]), subset=parts[2], host=parts[3])


# Endpoint label the injector sets on pods with a sidecar, and the metadata EDS carries for it.
TLS_MODE_LABEL = "security.istio.io/tlsMode"
TLS_MODE_ISTIO = "istio"
TRANSPORT_SOCKET_MATCH_METADATA = "envoy.transport_socket_match"
TLS_MODE_METADATA_KEY = "tlsMode"


def build_transport_socket_match_name(tls_mode: str) -> str:
    """``tlsMode-istio`` / ``tlsMode-disabled``: the auto-mTLS transport socket matches."""
    return f"tlsMode-{tls_mode}"


def build_file_cert_secret(certificate: str, private_key: str) -> str:
    """SDS name the agent serves a DestinationRule's client cert/key files under."""
    return f"file-cert:{certificate}~{private_key}"


def build_file_root_secret(ca_certificates: str) -> str:
    """SDS name of a CA bundle file (``system`` = the OS trust store)."""
    return f"file-root:{ca_certificates}"


def parse_file_cert_secret(name: str) -> tuple[str, str] | None:
    """(certificate, private key) paths of a ``file-cert:`` name, else None."""
    rest = name.removeprefix("file-cert:")
    certificate, sep, private_key = rest.partition("~")
    if rest == name or not sep or not certificate or not private_key:
        return None
    return certificate, private_key


def parse_file_root_secret(name: str) -> str | None:
    """The CA bundle path (or ``system``) of a ``file-root:`` name, else None."""
    rest = name.removeprefix("file-root:")
    return rest if rest != name and rest else None


CREDENTIAL_SECRET_PREFIX = "kubernetes://"


def build_credential_secret(credential_name: str, ca: bool = False) -> str:
    """Gateway/DestinationRule ``credentialName`` over SDS (``-cacert`` for its CA)."""
    return f"{CREDENTIAL_SECRET_PREFIX}{credential_name}{'-cacert' if ca else ''}"


def build_spiffe_prefix(trust_domain: str) -> str:
    """``spiffe://<td>/``: inbound mTLS accepts any identity of a trusted trust domain."""
    return f"spiffe://{trust_domain}/"


# --- telemetry: the stats scope of Istio's standard metrics, and the peer metadata exchange
# (our Envoy has no ``istio.metadata_exchange``: each side sends its workload in a plain header
# that the other side moves into dynamic metadata and strips, see ``xds/telemetry_peer.py``).
ISTIO_STATS_PREFIX = "istio"
PEER_HEADER = "x-mainsail-peer"
PEER_METADATA_NAMESPACE = "mainsail.peer"
# Cluster metadata: flat copies of Istio's ``istio.services[0]`` (host, name, namespace) that the
# stats access logger reads with ``%CLUSTER_METADATA%`` (``xds/telemetry_metrics.py``).
SERVICE_METADATA_NAMESPACE = "mainsail.service"


def build_peer_header(group: str = "") -> str:
    """``x-mainsail-peer`` (the peer's workload), ``x-mainsail-peer-<group>`` for another group
    of values (``service``: what the client computed about the destination)."""
    return f"{PEER_HEADER}-{group}" if group else PEER_HEADER


def parse_peer_header(header: str) -> str | None:
    """The group a peer header carries (``""`` for the workload), else None."""
    lowered = header.lower()
    if lowered == PEER_HEADER:
        return ""
    rest = lowered.removeprefix(f"{PEER_HEADER}-")
    return rest if rest != lowered and rest else None


# --- the book's Mixer model. Envoy's fluentd access logger only sends to a cluster of the
# bootstrap (``checkActiveStaticCluster``), so the agent's bootstrap has one EDS cluster for it,
# whose endpoint (the fluentd handler's address) comes over ADS.
MIXER_FLUENTD_CLUSTER = "mixer-handler|fluentd"
MIXER_STATS_PREFIX = "mixer"
