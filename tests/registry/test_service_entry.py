"""ServiceEntry → MeshServices and endpoints: resolutions, endpoints, workloadSelector."""

from __future__ import annotations

import pytest

from mainsail.config.istio.service_entry import ServiceEntry
from mainsail.config.parse import parse_documents
from mainsail.registry.model import Resolution, Workload
from mainsail.registry.protocol import Protocol
from mainsail.registry.service_entry import services_from_service_entry


def _entry(spec: str, namespace: str = "default") -> ServiceEntry:
    text = f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: se, namespace: {namespace}, labels: {{owner: me}}}}
spec:
{spec}
"""
    (resource,) = parse_documents(text).resources
    assert isinstance(resource, ServiceEntry)
    return resource


@pytest.mark.parametrize(
    ("resolution", "expected"),
    [
        ("NONE", Resolution.PASSTHROUGH),
        ("STATIC", Resolution.CLIENT_SIDE_LB),
        ("DNS", Resolution.DNS),
        ("DNS_ROUND_ROBIN", Resolution.DNS_ROUND_ROBIN),
    ],
)
def test_resolution(resolution: str, expected: Resolution) -> None:
    entry = _entry(
        f"""
  hosts: [a.example.com]
  resolution: {resolution}
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: 10.0.0.1}}]
"""
    )
    ((service, _),) = services_from_service_entry(entry, [])
    assert service.resolution is expected


def test_service_per_host_with_ports_location_and_export() -> None:
    entry = _entry(
        """
  hosts: [a.example.com, b.example.com]
  addresses: [192.0.2.1]
  location: MESH_INTERNAL
  exportTo: ["."]
  ports:
  - {number: 443, name: tls, protocol: TLS, targetPort: 8443}
  - {number: 80, name: web}
"""
    )
    result = services_from_service_entry(entry, [])
    assert [s.hostname for s, _ in result] == ["a.example.com", "b.example.com"]
    service = result[0][0]
    assert service.resolution is Resolution.PASSTHROUGH  # NONE is the default
    assert service.registry == "ServiceEntry" and not service.mesh_external
    assert service.addresses == ("192.0.2.1",) and service.export_to == frozenset({"."})
    assert [(p.port, p.protocol, p.target_port) for p in service.ports] == [
        (443, Protocol.TLS, 8443),
        (80, Protocol.UNSUPPORTED, None),  # no protocol: sniffed
    ]
    assert _entry("  hosts: [x.com]").spec.location is None
    ((external, _),) = services_from_service_entry(_entry("  hosts: [x.com]"), [])
    assert external.mesh_external  # location defaults to MESH_EXTERNAL


def test_static_endpoints_with_port_map_labels_and_weight() -> None:
    entry = _entry(
        """
  hosts: [s.example.com]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8000}, {number: 81, name: b}]
  endpoints:
  - {address: 10.0.0.1, labels: {v: a}, ports: {http: 9000}, weight: 4, locality: r/z}
  - {address: 10.0.0.2}
"""
    )
    ((_, endpoints),) = services_from_service_entry(entry, [])
    found = {(e.address, e.service_port, e.port) for e in endpoints}
    assert found == {
        ("10.0.0.1", 80, 9000),  # endpoint port map wins
        ("10.0.0.1", 81, 81),
        ("10.0.0.2", 80, 8000),  # else the targetPort
        ("10.0.0.2", 81, 81),  # else the port
    }
    first = next(e for e in endpoints if e.address == "10.0.0.1")
    assert first.labels == {"v": "a"}
    assert (first.workload.weight, first.workload.locality) == (4, "r/z")


def test_dns_without_endpoints_resolves_the_host() -> None:
    entry = _entry(
        """
  hosts: [api.example.com]
  resolution: DNS
  ports: [{number: 443, name: https, protocol: HTTPS}]
"""
    )
    ((_, endpoints),) = services_from_service_entry(entry, [])
    assert [(e.address, e.port) for e in endpoints] == [("api.example.com", 443)]


def test_workload_selector_picks_workloads_of_its_namespace() -> None:
    entry = _entry(
        """
  hosts: [legacy.internal]
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP, targetPort: 8080}]
  workloadSelector: {labels: {app: legacy}}
"""
    )
    workloads = [
        Workload(name="l-1", namespace="default", address="10.0.0.1", labels=(("app", "legacy"),)),
        Workload(name="l-2", namespace="other", address="10.0.0.2", labels=(("app", "legacy"),)),
        Workload(name="x-1", namespace="default", address="10.0.0.3", labels=(("app", "x"),)),
    ]
    ((_, endpoints),) = services_from_service_entry(entry, workloads)
    assert [(e.address, e.port) for e in endpoints] == [("10.0.0.1", 8080)]
