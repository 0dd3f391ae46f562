"""``credentialName`` secrets over ADS (istiod's ``SecretGen``): the SDS names translation emits
(``ads: {}``, not the agent's ``sds-grpc``), the Secrets each proxy is offered (its own
namespace only), istiod's ``-cacert`` lookup, and DestinationRule client credentials."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2, tls_pb2

from mainsail import naming
from mainsail.testing.simulator import decoded
from mainsail.xds.credentials import may_read
from mainsail.xds.resources import ProxyConfig
from mainsail.xds.tls import sds_secret_config
from tests.config.secret_pems import Ca, ca_secret_yaml, tls_secret_yaml

from .cases import CASES_DIR, Case, generate_case

SERVER_CA = Ca.make("server-ca")
CLIENT_CA = Ca.make("client-ca")
WEB = SERVER_CA.issue("web.example.com")
OTHER = SERVER_CA.issue("other.example.com")

GATEWAY = """# proxy: router
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: MUTUAL, credentialName: web}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web.example.com]
  gateways: [istio-system/gw]
  http:
  - route: [{destination: {host: reviews, port: {number: 9080}}}]
"""


def _config(text: str) -> ProxyConfig:
    base = (CASES_DIR / "_base.yaml").read_text()
    return generate_case(Case("credentials", text + "\n---\n" + base))


def _secrets(config: ProxyConfig) -> dict[str, secret_pb2.Secret]:
    return decoded(config, naming.SECRET_TYPE, secret_pb2.Secret)


def _https_context(config: ProxyConfig) -> tls_pb2.DownstreamTlsContext:
    listener = decoded(config, naming.LISTENER_TYPE, listener_pb2.Listener)["0.0.0.0_8443"]
    (chain,) = listener.filter_chains
    context = tls_pb2.DownstreamTlsContext()
    chain.transport_socket.typed_config.Unpack(context)
    return context


def test_credential_sds_names_come_over_ads() -> None:
    config = _config(GATEWAY + "---\n" + tls_secret_yaml("web", "istio-system", WEB, CLIENT_CA.pem))
    common = _https_context(config).common_tls_context
    (cert,) = common.tls_certificate_sds_secret_configs
    ca = common.combined_validation_context.validation_context_sds_secret_config
    assert (cert.name, ca.name) == ("kubernetes://web", "kubernetes://web-cacert")
    for sds in (cert, ca):
        # istiod's SDSAdsConfig: ADS, V3, and no zero initial fetch timeout.
        assert sds.sds_config.WhichOneof("config_source_specifier") == "ads"
        assert sds.sds_config.resource_api_version == 2  # V3
        assert not sds.sds_config.HasField("initial_fetch_timeout")


def test_node_agent_secrets_stay_on_sds_grpc() -> None:
    for name in (naming.WORKLOAD_SECRET, naming.ROOT_CA_SECRET, "file-root:/ca.pem"):
        source = sds_secret_config(name).sds_config
        assert source.WhichOneof("config_source_specifier") == "api_config_source"
        (grpc,) = source.api_config_source.grpc_services
        assert grpc.envoy_grpc.cluster_name == naming.SDS_CLUSTER


def test_the_secret_is_served_as_a_pair_and_its_ca() -> None:
    config = _config(GATEWAY + "---\n" + tls_secret_yaml("web", "istio-system", WEB, CLIENT_CA.pem))
    secrets = _secrets(config)
    assert sorted(secrets) == ["kubernetes://web", "kubernetes://web-cacert"]
    pair = secrets["kubernetes://web"].tls_certificate
    assert pair.certificate_chain.inline_bytes == WEB.cert_pem
    assert pair.private_key.inline_bytes == WEB.key_pem
    ca = secrets["kubernetes://web-cacert"].validation_context
    assert ca.trusted_ca.inline_bytes == CLIENT_CA.pem


def test_a_cacert_secret_wins_over_the_ca_in_the_pair() -> None:
    # istiod's GetCaCert: the Secret "<name>-cacert" first, then "<name>"'s own CA key.
    config = _config(
        GATEWAY
        + "---\n"
        + tls_secret_yaml("web", "istio-system", WEB, SERVER_CA.pem)
        + "---\n"
        + ca_secret_yaml("web-cacert", "istio-system", CLIENT_CA.pem)
    )
    secrets = _secrets(config)
    assert sorted(secrets) == ["kubernetes://web", "kubernetes://web-cacert"]
    ca = secrets["kubernetes://web-cacert"].validation_context.trusted_ca.inline_bytes
    assert ca == CLIENT_CA.pem


def test_generic_keys_are_served_too() -> None:
    text = tls_secret_yaml("web", "istio-system", WEB, CLIENT_CA.pem, generic=True)
    secrets = _secrets(_config(GATEWAY + "---\n" + text))
    assert (
        secrets["kubernetes://web"].tls_certificate.certificate_chain.inline_bytes == WEB.cert_pem
    )
    assert (
        secrets["kubernetes://web-cacert"].validation_context.trusted_ca.inline_bytes
        == CLIENT_CA.pem
    )


def test_a_proxy_is_offered_only_its_own_namespace_secrets() -> None:
    text = (
        GATEWAY
        + "---\n"
        + tls_secret_yaml("web", "default", WEB)
        + "---\n"
        + tls_secret_yaml("other", "istio-system", OTHER)
    )
    # The gateway (istio-system) never gets default's "web", even though its server names it.
    assert sorted(_secrets(_config(text))) == ["kubernetes://other"]
    # A sidecar of default gets default's, not istio-system's.
    sidecar = _config(text.removeprefix("# proxy: router\n"))
    assert sorted(_secrets(sidecar)) == ["kubernetes://web"]


def test_may_read_is_the_same_namespace() -> None:
    assert may_read("istio-system", "istio-system")
    assert not may_read("istio-system", "default")


def test_no_secrets_no_sds_type() -> None:
    assert naming.SECRET_TYPE not in _config(GATEWAY).resources


def test_destination_rule_credential_is_the_client_pair_over_ads() -> None:
    text = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-tls, namespace: default}
spec:
  host: reviews
  workloadSelector: {matchLabels: {app: client}}
  trafficPolicy:
    tls: {mode: MUTUAL, credentialName: client-cred}
---
""" + tls_secret_yaml("client-cred", "default", WEB, SERVER_CA.pem)
    config = _config(text)
    cluster = cluster_pb2.Cluster()
    config.of_type(naming.CLUSTER_TYPE)[
        "outbound|9080||reviews.default.svc.cluster.local"
    ].body.Unpack(cluster)
    context = tls_pb2.UpstreamTlsContext()
    cluster.transport_socket.typed_config.Unpack(context)
    common = context.common_tls_context
    (cert,) = common.tls_certificate_sds_secret_configs
    ca = common.combined_validation_context.validation_context_sds_secret_config
    assert (cert.name, ca.name) == ("kubernetes://client-cred", "kubernetes://client-cred-cacert")
    assert cert.sds_config.WhichOneof("config_source_specifier") == "ads"
    assert sorted(_secrets(config)) == [
        "kubernetes://client-cred",
        "kubernetes://client-cred-cacert",
    ]
