import pytest

from tests.config.validation.helpers import findings

PORTS = "ports: [{number: 80, name: http, protocol: HTTP}]\n"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("hosts: ['*']\n" + PORTS, ("MS-SE-HOSTS", "spec.hosts[0]")),
        ("hosts: ['bad_host']\n" + PORTS, ("MS-SE-HOSTS", "spec.hosts[0]")),
        (
            "hosts: [a.com]\naddresses: [not-an-ip]\n" + PORTS,
            ("MS-SE-ADDRESSES", "spec.addresses[0]"),
        ),
        (
            "hosts: [a.com]\naddresses: [10.0.0.0/8]\nresolution: DNS\n" + PORTS,
            ("MS-SE-ADDRESSES", "spec.addresses[0]"),
        ),
        (
            "hosts: [a.com]\nports: [{number: 80, name: http}, {number: 80, name: http2}]",
            ("MS-SE-PORTS", "spec.ports[1].number"),
        ),
        (
            "hosts: [a.com]\nports: [{number: 80, name: http}, {number: 81, name: http}]",
            ("MS-SE-PORTS", "spec.ports[1].name"),
        ),
        (
            "hosts: [a.com]\nports: [{number: 70000, name: http}]",
            ("MS-PORT", "spec.ports[0].number"),
        ),
        (
            "hosts: [a.com]\nports: [{number: 80, name: Bad_Name}]",
            ("MS-PORT-NAME", "spec.ports[0].name"),
        ),
        (
            "hosts: [a.com]\nports: [{number: 80, name: http, protocol: GOPHER}]",
            ("MS-PROTOCOL", "spec.ports[0].protocol"),
        ),
        (
            "hosts: [a.com]\n"
            + PORTS
            + "resolution: STATIC\nworkloadSelector: {labels: {app: x}}\nendpoints: [{address: 1.1.1.1}]",
            ("MS-SE-SELECTOR", "spec.workloadSelector"),
        ),
        (
            "hosts: [a.com]\n" + PORTS + "resolution: NONE\nendpoints: [{address: 1.1.1.1}]",
            ("MS-SE-ENDPOINT", "spec.endpoints"),
        ),
        (
            "hosts: [a.com]\n"
            + PORTS
            + "resolution: STATIC\nendpoints: [{address: a.example.com}]",
            ("MS-SE-ENDPOINT", "spec.endpoints[0].address"),
        ),
        (
            "hosts: [a.com]\n"
            + PORTS
            + "resolution: DNS_ROUND_ROBIN\nendpoints: [{address: a.com}, {address: b.com}]",
            ("MS-SE-ENDPOINT", "spec.endpoints"),
        ),
        ("hosts: ['*.a.com']\n" + PORTS + "resolution: DNS", ("MS-SE-RESOLUTION", "spec.hosts[0]")),
        (
            "hosts: [a.com]\n" + PORTS + "resolution: DYNAMIC_DNS",
            ("MS-SE-RESOLUTION", "spec.hosts[0]"),
        ),
        (
            "hosts: [a.com]\n"
            + PORTS
            + "resolution: STATIC\nendpoints: [{address: 1.1.1.1, ports: {grpc: 9000}}]",
            ("MS-SE-ENDPOINT", "spec.endpoints[0].ports[grpc]"),
        ),
        (
            "hosts: [a.com]\n"
            + PORTS
            + "resolution: STATIC\nendpoints: [{address: 1.1.1.1, ports: {http: 0}}]",
            ("MS-PORT", "spec.endpoints[0].ports[http]"),
        ),
        (
            "hosts: [a.com]\n" + PORTS + "resolution: STATIC\nendpoints: [{labels: {app: x}}]",
            ("MS-WE-ADDRESS", "spec.endpoints[0]"),
        ),
        (
            "hosts: [a.com, b.com]\nports: [{number: 5432, name: tcp, protocol: TCP}]",
            ("MS-SE-PORTS", "spec.ports[0].protocol"),
        ),
        (
            "hosts: [a.com]\n" + PORTS + "workloadSelector: {labels: {app: '*'}}",
            ("MS-SELECTOR", "spec.workloadSelector.labels[app]"),
        ),
    ],
)
def test_rule(spec: str, expected: tuple[str, str]) -> None:
    assert expected in findings("ServiceEntry", spec)


@pytest.mark.parametrize(
    "spec",
    [
        "hosts: ['*.a.com']\n" + PORTS + "resolution: DYNAMIC_DNS",
        "hosts: [a.com, b.com]\n" + PORTS,
        "hosts: [a.com]\naddresses: [10.0.0.1/32]\nresolution: DNS\n" + PORTS,
        "hosts: [a.com]\n"
        + PORTS
        + "resolution: STATIC\nendpoints: [{address: 'unix:///var/run/a.sock'}]",
    ],
)
def test_accepted(spec: str) -> None:
    assert findings("ServiceEntry", spec) == []
