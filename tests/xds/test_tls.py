"""xds.tls: SDS references, Istio's mTLS contexts and DestinationRule ``tls`` modes."""

from __future__ import annotations

import pytest
from envoy.config.core.v3 import config_source_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2

from mainsail import naming
from mainsail.config.istio.destination_rule import ClientTLSSettings
from mainsail.config.istio.gateway import ServerTLSSettings
from mainsail.config.mesh import MeshConfig
from mainsail.xds.server_tls import server_tls_context
from mainsail.xds.tls import (
    ALPN_IN_MESH,
    ALPN_IN_MESH_H2,
    ISTIO_CIPHER_SUITES,
    ClientTlsError,
    client_tls_context,
    inbound_mtls_context,
    istio_mutual_context,
    san_matchers,
    sds_secret_config,
    tls_transport_socket,
)

SAN = common_pb2.SubjectAltNameMatcher


def _settings(**fields: object) -> ClientTLSSettings:
    return ClientTLSSettings.model_validate(fields)


def _context(settings: ClientTLSSettings, **options: object) -> tls_pb2.UpstreamTlsContext | None:
    defaults: dict[str, object] = {
        "cluster_name": "outbound|443||api.example.com",
        "default_sni": "outbound_.443_._.api.example.com",
        "service_accounts": (),
        "http2": False,
        "credential_names": False,
    }
    defaults.update(options)
    return client_tls_context(settings, **defaults)  # type: ignore[arg-type]


def test_sni_round_trip() -> None:
    sni = naming.build_sni(9080, "reviews.default.svc.cluster.local", "v1")
    assert sni == "outbound_.9080_.v1_.reviews.default.svc.cluster.local"
    assert naming.build_sni(9080, "r.default.svc.cluster.local") == (
        "outbound_.9080_._.r.default.svc.cluster.local"
    )
    key = naming.parse_sni(sni)
    assert key == naming.ClusterKey(
        direction="outbound", port=9080, subset="v1", host="reviews.default.svc.cluster.local"
    )
    assert naming.parse_sni("reviews.default.svc.cluster.local") is None


def test_sds_secret_goes_to_the_agent_over_grpc() -> None:
    config = sds_secret_config("default")
    source = config.sds_config.api_config_source
    assert config.name == "default"
    assert source.grpc_services[0].envoy_grpc.cluster_name == "sds-grpc"
    assert source.api_type == source.GRPC
    assert source.transport_api_version == config_source_pb2.V3
    assert config.sds_config.resource_api_version == config_source_pb2.V3
    assert source.set_node_on_first_message_only
    # No initial fetch timeout: a listener waits for its certificate rather than serving without.
    assert not config.sds_config.HasField("initial_fetch_timeout")


def test_san_matchers_take_the_type_of_the_name() -> None:
    found = san_matchers(
        ["spiffe://td/ns/a/sa/b", "api.example.com", "10.0.0.7", "ops@example.com"]
    )
    assert [(m.san_type, m.matcher.exact) for m in found] == [
        (SAN.URI, "spiffe://td/ns/a/sa/b"),
        (SAN.DNS, "api.example.com"),
        (SAN.IP_ADDRESS, "10.0.0.7"),
        (SAN.EMAIL, "ops@example.com"),
    ]
    assert san_matchers(["spiffe://td/"], prefix=True)[0].matcher.prefix == "spiffe://td/"


def test_istio_mutual_uses_the_workload_cert_and_the_mesh_roots() -> None:
    context = istio_mutual_context(
        sni="outbound_.9080_._.reviews.default.svc.cluster.local",
        subject_alt_names=["spiffe://cluster.local/ns/default/sa/reviews"],
        http2=False,
    )
    common = context.common_tls_context
    assert [s.name for s in common.tls_certificate_sds_secret_configs] == ["default"]
    combined = common.combined_validation_context
    assert combined.validation_context_sds_secret_config.name == "ROOTCA"
    sans = combined.default_validation_context.match_typed_subject_alt_names
    assert [(m.san_type, m.matcher.exact) for m in sans] == [
        (SAN.URI, "spiffe://cluster.local/ns/default/sa/reviews")
    ]
    assert tuple(common.alpn_protocols) == ALPN_IN_MESH
    assert context.sni == "outbound_.9080_._.reviews.default.svc.cluster.local"
    assert common.tls_params.tls_minimum_protocol_version == common_pb2.TlsParameters.TLSv1_2
    assert common.tls_params.tls_maximum_protocol_version == common_pb2.TlsParameters.TLSv1_3
    h2 = istio_mutual_context(sni="s", subject_alt_names=[], http2=True)
    assert tuple(h2.common_tls_context.alpn_protocols) == ALPN_IN_MESH_H2


def test_inbound_requires_a_client_cert_from_a_trusted_domain() -> None:
    context = inbound_mtls_context(["cluster.local", "old.example", "cluster.local"], http=True)
    assert context.require_client_certificate.value
    common = context.common_tls_context
    sans = common.combined_validation_context.default_validation_context
    assert [(m.san_type, m.matcher.prefix) for m in sans.match_typed_subject_alt_names] == [
        (SAN.URI, "spiffe://cluster.local/"),
        (SAN.URI, "spiffe://old.example/"),
    ]
    assert tuple(common.tls_params.cipher_suites) == ISTIO_CIPHER_SUITES
    assert list(common.alpn_protocols) == ["h2", "http/1.1"]
    tcp = inbound_mtls_context(["cluster.local"], http=False)
    assert list(tcp.common_tls_context.alpn_protocols) == ["istio-peer-exchange", "h2", "http/1.1"]
    socket = tls_transport_socket(context)
    assert socket.name == "envoy.transport_sockets.tls"
    assert socket.typed_config.type_url.endswith("DownstreamTlsContext")


def test_disable_is_no_tls() -> None:
    assert _context(_settings(mode="DISABLE")) is None
    assert _context(_settings()) is None


def test_istio_mutual_rule_keeps_its_own_sni_and_sans() -> None:
    context = _context(
        _settings(mode="ISTIO_MUTUAL", sni="x.internal", subjectAltNames=["spiffe://a/ns/b/sa/c"]),
        service_accounts=("spiffe://cluster.local/ns/default/sa/other",),
    )
    assert context is not None
    assert context.sni == "x.internal"
    sans = context.common_tls_context.combined_validation_context.default_validation_context
    assert [m.matcher.exact for m in sans.match_typed_subject_alt_names] == ["spiffe://a/ns/b/sa/c"]
    default = _context(
        _settings(mode="ISTIO_MUTUAL"),
        service_accounts=("spiffe://cluster.local/ns/default/sa/api",),
    )
    assert default is not None
    assert default.sni == "outbound_.443_._.api.example.com"


def test_simple_validates_with_the_ca_file_over_sds() -> None:
    context = _context(
        _settings(mode="SIMPLE", caCertificates="/etc/ca.pem", subjectAltNames=["api.example.com"]),
        http2=True,
    )
    assert context is not None
    common = context.common_tls_context
    assert not common.tls_certificate_sds_secret_configs
    combined = common.combined_validation_context
    assert combined.validation_context_sds_secret_config.name == "file-root:/etc/ca.pem"
    assert list(common.alpn_protocols) == ["h2"]
    assert context.sni == ""  # the cluster sets auto_sni instead
    system = _context(_settings(mode="SIMPLE"))
    assert system is not None
    root = system.common_tls_context.combined_validation_context
    assert root.validation_context_sds_secret_config.name == "file-root:system"


def test_simple_insecure_skip_verify_has_an_empty_validation_context() -> None:
    context = _context(_settings(mode="SIMPLE", insecureSkipVerify=True, caCertificates="/ca"))
    assert context is not None
    common = context.common_tls_context
    assert common.WhichOneof("validation_context_type") == "validation_context"
    assert common.validation_context.ByteSize() == 0


def test_mutual_sends_the_client_certificate_files_over_sds() -> None:
    context = _context(
        _settings(mode="MUTUAL", clientCertificate="/c.pem", privateKey="/k.pem", sni="api")
    )
    assert context is not None
    names = [s.name for s in context.common_tls_context.tls_certificate_sds_secret_configs]
    assert names == ["file-cert:/c.pem~/k.pem"]
    assert context.sni == "api"


def test_mutual_without_a_certificate_names_the_cluster_and_fields() -> None:
    with pytest.raises(
        ClientTlsError, match=r"outbound\|443\|\|api.example.com.*clientCertificate"
    ):
        _context(_settings(mode="MUTUAL"))


def test_credential_name_only_where_the_proxy_may_read_it() -> None:
    settings = _settings(mode="MUTUAL", credentialName="client-cred")
    assert _context(settings) is None  # a sidecar, rule without workloadSelector: istiod drops TLS
    context = _context(settings, credential_names=True)
    assert context is not None
    common = context.common_tls_context
    assert [s.name for s in common.tls_certificate_sds_secret_configs] == [
        "kubernetes://client-cred"
    ]
    ca = common.combined_validation_context.validation_context_sds_secret_config
    assert ca.name == "kubernetes://client-cred-cacert"


def _server(**fields: object) -> tls_pb2.DownstreamTlsContext:
    return server_tls_context(ServerTLSSettings.model_validate(fields))


def test_server_tls_optional_mutual_validates_without_requiring() -> None:
    context = _server(
        mode="OPTIONAL_MUTUAL", serverCertificate="/c", privateKey="/k", caCertificates="/ca"
    )
    assert not context.require_client_certificate.value
    common = context.common_tls_context
    assert [s.name for s in common.tls_certificate_sds_secret_configs] == ["file-cert:/c~/k"]
    root = common.combined_validation_context.validation_context_sds_secret_config
    assert root.name == "file-root:/ca"


def test_server_tls_credentials_and_istio_mutual() -> None:
    credential = _server(mode="MUTUAL", credentialName="web", verifyCertificateSpki=["x"])
    common = credential.common_tls_context
    assert [s.name for s in common.tls_certificate_sds_secret_configs] == ["kubernetes://web"]
    combined = common.combined_validation_context
    assert combined.validation_context_sds_secret_config.name == "kubernetes://web-cacert"
    assert list(combined.default_validation_context.verify_certificate_spki) == ["x"]
    istio = _server(mode="ISTIO_MUTUAL")
    assert istio.require_client_certificate.value
    names = [s.name for s in istio.common_tls_context.tls_certificate_sds_secret_configs]
    assert names == ["default"]
    validation = istio.common_tls_context.combined_validation_context
    assert validation.validation_context_sds_secret_config.name == "ROOTCA"


def test_server_tls_two_certificates_and_protocol_bounds() -> None:
    context = _server(
        mode="SIMPLE",
        tlsCertificates=[
            {"serverCertificate": "/rsa", "privateKey": "/rsa-key"},
            {"serverCertificate": "/ec", "privateKey": "/ec-key"},
        ],
        minProtocolVersion="TLSV1_2",
        maxProtocolVersion="TLSV1_3",
        cipherSuites=["ECDHE-ECDSA-AES128-GCM-SHA256"],
    )
    common = context.common_tls_context
    assert [s.name for s in common.tls_certificate_sds_secret_configs] == [
        "file-cert:/rsa~/rsa-key",
        "file-cert:/ec~/ec-key",
    ]
    assert common.WhichOneof("validation_context_type") is None
    params = common.tls_params
    assert params.tls_minimum_protocol_version == common_pb2.TlsParameters.TLSv1_2
    assert params.tls_maximum_protocol_version == common_pb2.TlsParameters.TLSv1_3
    assert list(params.cipher_suites) == ["ECDHE-ECDSA-AES128-GCM-SHA256"]


def test_simple_credential_name_is_the_client_pair_and_its_cacert_the_roots() -> None:
    context = _context(_settings(mode="SIMPLE", credentialName="egress"), credential_names=True)
    assert context is not None
    common = context.common_tls_context
    assert [s.name for s in common.tls_certificate_sds_secret_configs] == ["kubernetes://egress"]
    root = common.combined_validation_context.validation_context_sds_secret_config
    assert root.name == "kubernetes://egress-cacert"
    skip = _context(
        _settings(mode="SIMPLE", credentialName="egress", insecureSkipVerify=True),
        credential_names=True,
    )
    assert skip is not None
    assert skip.common_tls_context.WhichOneof("validation_context_type") is None


def test_mesh_mtls_sets_the_minimum_version_ciphers_and_curves() -> None:
    mesh = MeshConfig.model_validate(
        {
            "meshMTLS": {
                "minProtocolVersion": "TLSV1_3",
                "cipherSuites": ["ECDHE-ECDSA-AES128-GCM-SHA256"],
                "ecdhCurves": ["P-256"],
            }
        }
    )
    params = inbound_mtls_context(
        ["cluster.local"], http=True, mesh_mtls=mesh.mesh_mtls
    ).common_tls_context.tls_params
    assert params.tls_minimum_protocol_version == common_pb2.TlsParameters.TLSv1_3
    assert list(params.cipher_suites) == ["ECDHE-ECDSA-AES128-GCM-SHA256"]
    assert list(params.ecdh_curves) == ["P-256"]
    default = inbound_mtls_context(["cluster.local"], http=True).common_tls_context.tls_params
    assert default.tls_minimum_protocol_version == common_pb2.TlsParameters.TLSv1_2
    assert not default.ecdh_curves
