"""``credentialName`` secrets on the ADS stream: SDS is a named type, so a proxy receives only
the ``kubernetes://`` secrets it subscribes to (those its listeners and clusters name), a changed
Secret is pushed to it in place, and a removed one is withdrawn (SDS is a kept type:
it leaves with the final stage of the plan, ``ads.staging``)."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2
from envoy.service.discovery.v3 import discovery_pb2

from mainsail import naming
from mainsail.ads.session import Mode
from mainsail.testing import envoy_config as ec
from mainsail.xds.resources import ProxyConfig, XdsResource

from .test_session import Wire

SDS = naming.SECRET_TYPE
WEB, OTHER = "kubernetes://web", "kubernetes://other"


def _secret(name: str, cert: bytes) -> XdsResource:
    return XdsResource.pack(
        name,
        secret_pb2.Secret(
            name=name,
            tls_certificate=common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(inline_bytes=cert)
            ),
        ),
    )


def _config(*secrets: XdsResource) -> ProxyConfig:
    return ec.proxy_config(
        clusters=[ec.eds_cluster("a")],
        endpoints=[ec.endpoints("a", [("127.0.0.1", 9000)])],
        listeners=[ec.http_listener("l", "127.0.0.1", 8443, "r")],
        routes=[ec.route_to("r", "a")],
        secrets=secrets,
    )


def _subscribe(wire: Wire, mode: Mode, names: set[str]) -> None:
    """What Envoy does when a listener or cluster names ``kubernetes://`` secrets with ``ads: {}``."""
    wire.client.subscribed[SDS] = names
    request: Any
    if mode is Mode.DELTA:
        request = discovery_pb2.DeltaDiscoveryRequest(
            type_url=SDS, resource_names_subscribe=sorted(names)
        )
    else:
        request = discovery_pb2.DiscoveryRequest(type_url=SDS, resource_names=sorted(names))
    wire.to_server.append(request)
    wire.run()


def _chain(wire: Wire, name: str) -> bytes:
    secret = secret_pb2.Secret()
    wire.client.held[SDS][name][1].Unpack(secret)
    return bytes(secret.tls_certificate.certificate_chain.inline_bytes)


@pytest.mark.parametrize("mode", list(Mode))
def test_only_subscribed_secrets_are_sent(mode: Mode) -> None:
    wire = Wire(mode)
    wire.connect(_config(_secret(WEB, b"web-1"), _secret(OTHER, b"other-1")))
    assert wire.client.names(SDS) == set()  # nothing asked, nothing sent
    assert wire.session.in_sync()  # offered secrets nobody asked for keep no proxy STALE
    _subscribe(wire, mode, {WEB})
    assert wire.client.names(SDS) == {WEB}
    assert _chain(wire, WEB) == b"web-1"
    sent = {
        (r.resource if mode is Mode.DELTA else r).type_url
        for response in wire.log
        if response.type_url == SDS
        for r in response.resources
    }
    assert sent == {SDS}
    assert all(OTHER not in str(response) for response in wire.log if response.type_url == SDS)
    assert wire.session.in_sync()


@pytest.mark.parametrize("mode", list(Mode))
def test_a_changed_secret_is_pushed_in_place(mode: Mode) -> None:
    wire = Wire(mode)
    wire.connect(_config(_secret(WEB, b"web-1")))
    _subscribe(wire, mode, {WEB})
    wire.log.clear()
    wire.push(_config(_secret(WEB, b"web-2")), 2)
    assert _chain(wire, WEB) == b"web-2"
    # Only the secret moved: no cluster, listener or route was re-sent.
    assert {r.type_url for r in wire.log} == {SDS}
    assert wire.session.in_sync()


@pytest.mark.parametrize("mode", list(Mode))
def test_a_removed_secret_is_withdrawn(mode: Mode) -> None:
    wire = Wire(mode)
    wire.connect(_config(_secret(WEB, b"web-1")))
    _subscribe(wire, mode, {WEB})
    wire.log.clear()
    wire.push(_config(), 2)
    assert wire.session.in_sync()
    (last,) = [r for r in wire.log if r.type_url == SDS]
    if mode is Mode.DELTA:
        assert list(last.removed_resources) == [WEB]
        assert wire.client.names(SDS) == set()
    else:
        # SotW: an SDS response without the name; Envoy drops it once nothing names it.
        assert list(last.resources) == []
