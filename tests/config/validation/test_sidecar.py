import pytest

from tests.config.validation.helpers import findings

INGRESS = "ingress:\n- port: {number: 9080, protocol: HTTP, name: http}\n  defaultEndpoint: "


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("egress: [{hosts: [reviews]}]", ("MS-SC-EGRESS", "spec.egress[0].hosts[0]")),
        ("egress: [{hosts: ['Bad_NS/*']}]", ("MS-SC-EGRESS", "spec.egress[0].hosts[0]")),
        ("egress: [{hosts: ['./foo*']}]", ("MS-SC-EGRESS", "spec.egress[0].hosts[0]")),
        ("egress: [{hosts: []}]", ("MS-SC-EGRESS", "spec.egress[0].hosts")),
        (
            "egress: [{hosts: ['./*']}, {hosts: ['istio-system/*']}]",
            ("MS-SC-EGRESS", "spec.egress"),
        ),
        (
            "egress: [{hosts: ['./*']}, {port: {number: 80, name: http, protocol: HTTP}, hosts: ['./*']}]",
            ("MS-SC-EGRESS", "spec.egress[0]"),
        ),
        (
            "egress: [{port: {number: 80, name: http, protocol: HTTP}, bind: 'unix:///a.sock', hosts: ['./*']}]",
            ("MS-SC-BIND", "spec.egress[0].captureMode"),
        ),
        (
            "egress: [{port: {number: 80}, bind: 'not-ip', hosts: ['./*']}]",
            ("MS-SC-BIND", "spec.egress[0].bind"),
        ),
        (
            INGRESS
            + "127.0.0.1:8080\n- port: {number: 9080, protocol: HTTP, name: http2}\n  defaultEndpoint: 127.0.0.1:8081",
            ("MS-SC-INGRESS", "spec.ingress[1].port.number"),
        ),
        (
            "ingress:\n- port: {protocol: HTTP, name: http}",
            ("MS-PORT", "spec.ingress[0].port.number"),
        ),
        (INGRESS + "10.0.0.1:8080", ("MS-SC-INGRESS", "spec.ingress[0].defaultEndpoint")),
        (INGRESS + "127.0.0.1:99999", ("MS-PORT", "spec.ingress[0].defaultEndpoint")),
        (
            INGRESS + "127.0.0.1:8080\n  tls: {mode: SIMPLE}",
            ("MS-GW-TLS", "spec.ingress[0].tls.serverCertificate"),
        ),
        (
            "outboundTrafficPolicy: {mode: REGISTRY_ONLY, egressProxy: {host: proxy}}",
            ("MS-SC-OUTBOUND", "spec.outboundTrafficPolicy.egressProxy"),
        ),
        ("inboundConnectionPool: {}", ("MS-DR-CONNECTION-POOL", "spec.inboundConnectionPool")),
        (
            "workloadSelector: {labels: {app: '*'}}",
            ("MS-SELECTOR", "spec.workloadSelector.labels[app]"),
        ),
    ],
)
def test_rule(spec: str, expected: tuple[str, str]) -> None:
    assert expected in findings("Sidecar", spec)


@pytest.mark.parametrize(
    "spec",
    [
        "egress: [{hosts: ['*/*', '~/*', './*.example.com']}]",
        INGRESS + "0.0.0.0:8080",
        INGRESS + "unix:///var/run/app.sock",
        "egress: [{port: {number: 80}, bind: 'unix:///a.sock', captureMode: NONE, hosts: ['./*']}]",
    ],
)
def test_accepted(spec: str) -> None:
    assert findings("Sidecar", spec) == []
