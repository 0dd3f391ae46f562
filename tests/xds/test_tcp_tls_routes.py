"""VirtualService ``tcp``/``tls`` routes on the local TCP listeners, by traffic simulation over
the golden case ``tcp_tls_routes`` (the sidecar ``client-1``), plus the static-match rules."""

from __future__ import annotations

import pytest

from mainsail.testing.simulator import Request, Simulator

from .cases import generate_case, load_case

IP = "10.10.0.10"
ECHO = "tcp-echo.default.svc.cluster.local"
SECURE = "secure.default.svc.cluster.local"


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator(generate_case(load_case("tcp_tls_routes")))


def _listener_port(sim: Simulator, service_port: int, host: str) -> int:
    """The local port the sidecar announced for the service port (``<SVC>_SERVICE_PORT``)."""
    for listener in sim.listeners.values():
        result = sim.simulate(Request(listener=listener.name))
        if result.outcome == "tcp" and any(
            c.endswith(f"|{host}") and c.startswith(f"outbound|{service_port}|")
            for c in [*result.weighted_clusters, result.cluster or ""]
        ):
            return listener.address.socket_address.port_value
    raise LookupError(service_port)


def test_weights_and_subsets_after_a_source_label_match_for_another_proxy(sim: Simulator) -> None:
    result = sim.simulate(Request(listener=(IP, _listener_port(sim, 9000, ECHO))))
    assert result.outcome == "tcp"
    assert dict(result.weighted_clusters) == {
        f"outbound|9000|v1|{ECHO}": 80,
        f"outbound|9000|v2|{ECHO}": 20,
    }
    assert [e.address for e in result.upstreams[f"outbound|9000|v2|{ECHO}"].endpoints] == [
        "10.10.0.82"
    ]
    assert {result.pick(n) for n in range(100)} == set(result.weighted_clusters)


def test_gateway_only_match_leaves_the_default_route(sim: Simulator) -> None:
    result = sim.simulate(Request(listener=(IP, _listener_port(sim, 9001, ECHO))))
    assert result.cluster == f"outbound|9001||{ECHO}"
    assert len(result.endpoints) == 2


def test_destination_subnets_hold_for_the_service_address(sim: Simulator) -> None:
    result = sim.simulate(Request(listener=(IP, _listener_port(sim, 9002, ECHO))))
    assert result.cluster == f"outbound|9002|v2|{ECHO}"


@pytest.mark.parametrize(
    ("sni", "expected"),
    [
        ("v2.secure.example.com", {f"outbound|8443|v2|{SECURE}"}),
        ("a.secure.example.com", {f"outbound|8443|v1|{SECURE}", f"outbound|8443|v2|{SECURE}"}),
        ("secure", {f"outbound|8443|v1|{SECURE}", f"outbound|8443|v2|{SECURE}"}),
        ("elsewhere.example.com", set()),  # a VS claims the port: no chain, connection closed
    ],
)
def test_tls_routes_choose_by_sni(sim: Simulator, sni: str, expected: set[str]) -> None:
    request = Request(listener=(IP, 8443), server_name=sni, transport_protocol="tls")
    result = sim.simulate(request)
    if not expected:
        assert result.outcome == "no_filter_chain"
        return
    assert set(result.clusters) == expected


def test_tls_port_without_tls_routes_goes_to_the_service(sim: Simulator) -> None:
    result = sim.simulate(Request(listener=(IP, 9443), server_name="any", transport_protocol="tls"))
    assert result.cluster == f"outbound|9443||{SECURE}"


def test_tcp_gateway_server_routes_by_virtual_service() -> None:
    gateway = Simulator(generate_case(load_case("gateway_tcp")))
    result = gateway.simulate(Request(listener="0.0.0.0_31400"))
    assert result.cluster == "outbound|27017||mongo.default.svc.cluster.local"
    assert [e.address for e in result.endpoints] == ["10.10.0.51"]
    assert gateway.simulate(Request(listener="0.0.0.0_31401")).outcome == "no_listener"
