"""TLS transport sockets: SDS secret references, Istio's mTLS contexts, DestinationRule ``tls``.

What istiod emits (istio-internals §3.4 "TLS modes", §4.1, §4.2):

- Secrets come from the node agent over SDS (cluster ``sds-grpc``): the workload certificate
  ``default`` and the trust bundle ``ROOTCA``; DestinationRule files as ``file-cert:<cert>~<key>``
  and ``file-root:<ca>`` (``system`` = the OS trust store).
- ISTIO_MUTUAL upstream: cert ``default``, validation ``ROOTCA`` plus the destination's SPIFFE
  identities, SNI ``outbound_.<port>_.<subset>_.<host>``, ALPN ``istio-peer-exchange, istio``
  (``+h2`` on HTTP/2 clusters). Our Envoy build has no ``istio.alpn`` filter, so the client never
  rewrites this list per request to ``istio-http/1.1`` etc.: a sidecar's inbound chains still
  match it (PERMISSIVE's TLS chain accepts every Istio ALPN, STRICT matches on ``tls`` only),
  and since our servers answer with ``h2, http/1.1`` (HTTP) or ``istio-peer-exchange, h2,
  http/1.1`` (TCP), the negotiated protocol is ``h2`` for HTTP/2 clusters, ``istio-peer-exchange``
  on TCP chains (no metadata-exchange filter reads it on either side), and none for HTTP/1.1,
  whose clusters speak their configured codec regardless.
- Inbound (PeerAuthentication STRICT/PERMISSIVE): client certificate required, identities of
  the mesh trust domain and its aliases accepted (SAN prefix ``spiffe://<td>/``), TLS 1.2 to 1.3
  with Istio's cipher list.

Envoy 1.40 logs a deprecation for ``match_subject_alt_names`` (what istiod still sets), so SANs
go to ``match_typed_subject_alt_names`` with the type their form implies.

Reads: DestinationRule ``tls``, MeshConfig (trust domain and aliases).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence

from envoy.config.core.v3 import base_pb2, config_source_pb2, grpc_service_pb2
from envoy.extensions.transport_sockets.raw_buffer.v3 import raw_buffer_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2

from mainsail import naming
from mainsail.config.istio.destination_rule import ClientTLSSettings
from mainsail.config.mesh import MeshMtls

TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls"
RAW_BUFFER_TRANSPORT_SOCKET = "envoy.transport_sockets.raw_buffer"
TLS_INSPECTOR = "envoy.filters.listener.tls_inspector"

# Client ALPN on in-mesh mTLS clusters (istiod's ALPNInMeshWithMxc / ALPNInMeshH2WithMxc).
ALPN_IN_MESH = ("istio-peer-exchange", "istio")
ALPN_IN_MESH_H2 = ("istio-peer-exchange", "istio", "h2")
# Server ALPN on inbound mTLS chains (istiod's ALPNHttp / ALPNDownstreamWithMxc).
ALPN_INBOUND_HTTP = ("h2", "http/1.1")
ALPN_INBOUND_TCP = ("istio-peer-exchange", "h2", "http/1.1")
ALPN_H2_ONLY = ("h2",)
# What inbound filter chains match on (``filterchain_options.go``).
MTLS_HTTP_ALPNS = ("istio-http/1.0", "istio-http/1.1", "istio-h2")
MTLS_TCP_ALPNS = ("istio-peer-exchange", "istio")
ALL_ISTIO_MTLS_ALPNS = (*MTLS_HTTP_ALPNS, *MTLS_TCP_ALPNS)
TLS_TRANSPORT = "tls"
RAW_BUFFER_TRANSPORT = "raw_buffer"

# istiod's ``SupportedCiphers`` for sidecar servers.
ISTIO_CIPHER_SUITES = (
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
)
SYSTEM_CA = "system"

_TLS_1_2 = common_pb2.TlsParameters.TLSv1_2
_TLS_1_3 = common_pb2.TlsParameters.TLSv1_3


class ClientTlsError(ValueError):
    """A DestinationRule ``tls`` block that cannot be honoured; the message names the cluster
    and the field."""


@functools.lru_cache(maxsize=256)
def sds_secret_config(name: str) -> secret_pb2.SdsSecretConfig:
    """A secret the node agent serves over the bootstrap's ``sds-grpc`` cluster (istiod's
    ``ConstructSdsSecretConfig``: no initial fetch timeout, so a cluster or listener waits for
    its certificate instead of coming up without one). Shared (cached): callers copy it into
    their context (constructors, ``CopyFrom``, ``append`` all copy) and never change it.

    ``kubernetes://`` names (``credentialName``) come from the control plane on the ADS stream
    instead (istiod's ``SdsSecretConfig{sds_config: {ads: {}}}``, ``xds.credentials``)."""
    if name.startswith(naming.CREDENTIAL_SECRET_PREFIX):
        return secret_pb2.SdsSecretConfig(
            name=name,
            sds_config=config_source_pb2.ConfigSource(
                ads=config_source_pb2.AggregatedConfigSource(),
                resource_api_version=config_source_pb2.V3,
            ),
        )
    return secret_pb2.SdsSecretConfig(
        name=name,
        sds_config=config_source_pb2.ConfigSource(
            api_config_source=config_source_pb2.ApiConfigSource(
                api_type=config_source_pb2.ApiConfigSource.GRPC,
                set_node_on_first_message_only=True,
                transport_api_version=config_source_pb2.V3,
                grpc_services=[
                    grpc_service_pb2.GrpcService(
                        envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(
                            cluster_name=naming.SDS_CLUSTER
                        )
                    )
                ],
            ),
            resource_api_version=config_source_pb2.V3,
        ),
    )


def san_matchers(
    names: Iterable[str], *, prefix: bool = False
) -> list[common_pb2.SubjectAltNameMatcher]:
    """Typed SAN matchers: a name with a scheme (``spiffe://…``) is a URI SAN, an address an IP
    SAN, ``a@b`` an email, anything else a DNS name (istiod's untyped matcher tries them all;
    a name only ever matches the SAN type of its own form)."""
    matchers = []
    for name in names:
        matcher = (
            string_pb2.StringMatcher(prefix=name)
            if prefix
            else string_pb2.StringMatcher(exact=name)
        )
        matchers.append(common_pb2.SubjectAltNameMatcher(san_type=_san_type(name), matcher=matcher))
    return matchers


def _san_type(name: str) -> int:
    matcher = common_pb2.SubjectAltNameMatcher
    if "://" in name:
        return int(matcher.URI)
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return int(matcher.EMAIL) if "@" in name else int(matcher.DNS)
    return int(matcher.IP_ADDRESS)


def _tls_params(
    *, minimum: int = _TLS_1_2, ciphers: Sequence[str] = (), ecdh_curves: Sequence[str] = ()
) -> common_pb2.TlsParameters:
    return common_pb2.TlsParameters(
        tls_minimum_protocol_version=minimum,
        tls_maximum_protocol_version=_TLS_1_3,
        cipher_suites=list(ciphers),
        ecdh_curves=list(ecdh_curves),
    )


def istio_mutual_context(
    *, sni: str, subject_alt_names: Sequence[str], http2: bool
) -> tls_pb2.UpstreamTlsContext:
    """ISTIO_MUTUAL: the workload certificate, the mesh trust bundle and the destination's
    SPIFFE identities (``buildUpstreamClusterTLSContext``)."""
    return tls_pb2.UpstreamTlsContext(
        common_tls_context=_istio_mutual_common(tuple(subject_alt_names), http2), sni=sni
    )


@functools.lru_cache(maxsize=4096)
def _istio_mutual_common(
    subject_alt_names: tuple[str, ...], http2: bool
) -> tls_pb2.CommonTlsContext:
    # Every port and subset of a service shares it (only the SNI differs): built once, copied
    # into each cluster's context (a service's clusters are most of a mesh's config).
    return tls_pb2.CommonTlsContext(
        tls_params=_tls_params(),
        tls_certificate_sds_secret_configs=[sds_secret_config(naming.WORKLOAD_SECRET)],
        combined_validation_context=tls_pb2.CommonTlsContext.CombinedCertificateValidationContext(
            default_validation_context=common_pb2.CertificateValidationContext(
                match_typed_subject_alt_names=san_matchers(subject_alt_names)
            ),
            validation_context_sds_secret_config=sds_secret_config(naming.ROOT_CA_SECRET),
        ),
        alpn_protocols=list(ALPN_IN_MESH_H2 if http2 else ALPN_IN_MESH),
    )


def client_tls_context(
    settings: ClientTLSSettings,
    *,
    cluster_name: str,
    default_sni: str,
    service_accounts: Sequence[str],
    http2: bool,
    credential_names: bool,
) -> tls_pb2.UpstreamTlsContext | None:
    """A DestinationRule's ``tls`` as the cluster's upstream context; None for DISABLE.

    ``service_accounts`` are the SANs ISTIO_MUTUAL checks when the rule names none (and SIMPLE/
    MUTUAL for a ServiceEntry's ``subjectAltNames``). ``credential_names`` says whether the
    proxy may read ``credentialName`` secrets (gateways, and DestinationRules with a
    ``workloadSelector``): like istiod, a sidecar otherwise gets no TLS for a SIMPLE/MUTUAL rule
    that names one. The caller (``xds.clusters``) sets ``auto_sni``/``auto_san_validation``.
    """
    mode = settings.mode or "DISABLE"
    if mode == "DISABLE":
        return None
    if mode == "ISTIO_MUTUAL":
        return istio_mutual_context(
            sni=settings.sni or default_sni,
            subject_alt_names=settings.subject_alt_names or service_accounts,
            http2=http2,
        )
    if settings.credential_name and not credential_names:
        return None
    mutual = mode == "MUTUAL"
    common = tls_pb2.CommonTlsContext(tls_params=_tls_params())
    sans = settings.subject_alt_names or tuple(service_accounts)
    if settings.credential_name:
        # istiod's ``ApplyCustomSDSToClientCommonTLSContext``: the credential is the client pair
        # (also for SIMPLE) and its ``-cacert`` the roots, unless verification is skipped.
        common.tls_certificate_sds_secret_configs.append(
            sds_secret_config(naming.build_credential_secret(settings.credential_name))
        )
        if not settings.insecure_skip_verify:
            combined = common.combined_validation_context
            combined.default_validation_context.match_typed_subject_alt_names.extend(
                san_matchers(sans)
            )
            combined.validation_context_sds_secret_config.CopyFrom(
                sds_secret_config(naming.build_credential_secret(settings.credential_name, ca=True))
            )
    else:
        if mutual:
            if not settings.client_certificate or not settings.private_key:
                raise ClientTlsError(
                    f"cluster {cluster_name}: DestinationRule tls.mode MUTUAL needs "
                    "tls.clientCertificate and tls.privateKey (or tls.credentialName)"
                )
            common.tls_certificate_sds_secret_configs.append(
                sds_secret_config(
                    naming.build_file_cert_secret(settings.client_certificate, settings.private_key)
                )
            )
        if settings.insecure_skip_verify:
            common.validation_context.SetInParent()
        else:
            combined = common.combined_validation_context
            combined.default_validation_context.match_typed_subject_alt_names.extend(
                san_matchers(sans)
            )
            if settings.ca_crl:
                combined.default_validation_context.crl.filename = settings.ca_crl
            combined.validation_context_sds_secret_config.CopyFrom(
                sds_secret_config(
                    naming.build_file_root_secret(settings.ca_certificates or SYSTEM_CA)
                )
            )
    if http2:
        common.alpn_protocols.extend(ALPN_H2_ONLY)
    return tls_pb2.UpstreamTlsContext(common_tls_context=common, sni=settings.sni or "")


def inbound_mtls_context(
    trust_domains: Sequence[str], *, http: bool, mesh_mtls: MeshMtls | None = None
) -> tls_pb2.DownstreamTlsContext:
    """STRICT/PERMISSIVE server side (istiod's ``BuildInboundTLS``): a client certificate from
    the mesh CA is required, with an identity in one of ``trust_domains``; ``meshMTLS`` may
    raise the minimum version to 1.3 and choose the ciphers and ECDH curves."""
    settings = mesh_mtls or MeshMtls()
    common = tls_pb2.CommonTlsContext(
        tls_params=_tls_params(
            minimum=_TLS_1_3 if settings.min_protocol_version == "TLSV1_3" else _TLS_1_2,
            ciphers=settings.cipher_suites or ISTIO_CIPHER_SUITES,
            ecdh_curves=settings.ecdh_curves,
        ),
        tls_certificate_sds_secret_configs=[sds_secret_config(naming.WORKLOAD_SECRET)],
        combined_validation_context=tls_pb2.CommonTlsContext.CombinedCertificateValidationContext(
            default_validation_context=common_pb2.CertificateValidationContext(
                match_typed_subject_alt_names=san_matchers(
                    [naming.build_spiffe_prefix(td) for td in dict.fromkeys(trust_domains)],
                    prefix=True,
                )
            ),
            validation_context_sds_secret_config=sds_secret_config(naming.ROOT_CA_SECRET),
        ),
        alpn_protocols=list(ALPN_INBOUND_HTTP if http else ALPN_INBOUND_TCP),
    )
    context = tls_pb2.DownstreamTlsContext(common_tls_context=common)
    context.require_client_certificate.value = True
    return context


def tls_transport_socket(
    context: tls_pb2.UpstreamTlsContext | tls_pb2.DownstreamTlsContext,
) -> base_pb2.TransportSocket:
    socket = base_pb2.TransportSocket(name=TLS_TRANSPORT_SOCKET)
    socket.typed_config.Pack(context)
    return socket


def raw_buffer_transport_socket() -> base_pb2.TransportSocket:
    socket = base_pb2.TransportSocket()
    socket.CopyFrom(_RAW_BUFFER)
    return socket


_RAW_BUFFER = base_pb2.TransportSocket(name=RAW_BUFFER_TRANSPORT_SOCKET)
_RAW_BUFFER.typed_config.Pack(raw_buffer_pb2.RawBuffer())
