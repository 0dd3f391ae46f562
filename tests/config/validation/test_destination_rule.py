import pytest

from tests.config.validation.helpers import findings

TP = "host: reviews\ntrafficPolicy:\n  "


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("host: 'bad_host'", ("MS-HOST", "spec.host")),
        (
            "host: reviews\nsubsets: [{name: v1}, {name: v1}]",
            ("MS-DR-SUBSET", "spec.subsets[1].name"),
        ),
        ("host: reviews\nsubsets: [{name: V.1}]", ("MS-DR-SUBSET", "spec.subsets[0].name")),
        (
            "host: reviews\nsubsets: [{name: v1, labels: {'bad key!': x}}]",
            ("MS-LABELS", "spec.subsets[0].labels[bad key!]"),
        ),
        ("host: reviews\ntrafficPolicy: {}", ("MS-DR-PORT-SETTINGS", "spec.trafficPolicy")),
        (TP + "connectionPool: {}", ("MS-DR-CONNECTION-POOL", "spec.trafficPolicy.connectionPool")),
        (
            TP + "connectionPool: {tcp: {maxConnections: -1}}",
            ("MS-DR-CONNECTION-POOL", "spec.trafficPolicy.connectionPool.tcp.maxConnections"),
        ),
        (
            TP + "connectionPool: {http: {http2MaxRequests: -5}}",
            ("MS-DR-CONNECTION-POOL", "spec.trafficPolicy.connectionPool.http.http2MaxRequests"),
        ),
        (
            TP + "connectionPool: {http: {useClientProtocol: true, h2UpgradePolicy: UPGRADE}}",
            ("MS-DR-CONNECTION-POOL", "spec.trafficPolicy.connectionPool.http"),
        ),
        (
            TP + "connectionPool: {tcp: {connectTimeout: 0s}}",
            ("MS-DURATION", "spec.trafficPolicy.connectionPool.tcp.connectTimeout"),
        ),
        (
            TP + "outlierDetection: {maxEjectionPercent: 101}",
            ("MS-DR-OUTLIER", "spec.trafficPolicy.outlierDetection.maxEjectionPercent"),
        ),
        (
            TP + "outlierDetection: {minHealthPercent: -1}",
            ("MS-DR-OUTLIER", "spec.trafficPolicy.outlierDetection.minHealthPercent"),
        ),
        (
            TP + "outlierDetection: {interval: 100us}",
            ("MS-DURATION", "spec.trafficPolicy.outlierDetection.interval"),
        ),
        (
            TP + "loadBalancer: {consistentHash: {httpHeaderName: x, useSourceIp: true}}",
            ("MS-DR-CONSISTENT-HASH", "spec.trafficPolicy.loadBalancer.consistentHash"),
        ),
        (
            TP + "loadBalancer: {consistentHash: {useSourceIp: true, ringHash: {}, maglev: {}}}",
            ("MS-DR-CONSISTENT-HASH", "spec.trafficPolicy.loadBalancer.consistentHash"),
        ),
        (
            TP + "loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 1000}}}",
            (
                "MS-DR-CONSISTENT-HASH",
                "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize",
            ),
        ),
        (
            TP + "loadBalancer: {consistentHash: {httpCookie: {name: ''}}}",
            (
                "MS-DR-CONSISTENT-HASH",
                "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name",
            ),
        ),
        (
            TP + "loadBalancer: {localityLbSetting: {}, zoneAwareLbSetting: {}}",
            ("MS-DR-LOCALITY", "spec.trafficPolicy.loadBalancer"),
        ),
        (
            TP + "loadBalancer: {localityLbSetting: {distribute: [{from: a/*, to: {b/*: 60}}]}}",
            (
                "MS-DR-LOCALITY",
                "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to",
            ),
        ),
        (
            TP
            + "loadBalancer: {localityLbSetting: {distribute: [{from: a/*, to: {b/*: 0, c/*: 100}}]}}",
            (
                "MS-DR-LOCALITY",
                "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to[b/*]",
            ),
        ),
        (
            TP
            + "loadBalancer: {localityLbSetting: {distribute: [{from: a/*, to: {b/*: 100}}], failover: [{from: a, to: b}]}}",
            ("MS-DR-LOCALITY", "spec.trafficPolicy.loadBalancer.localityLbSetting"),
        ),
        (
            TP
            + "outlierDetection: {interval: 1s}\n  loadBalancer: {localityLbSetting: {failover: [{from: us-east, to: us-east}]}}",
            ("MS-DR-LOCALITY", "spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]"),
        ),
        (
            TP + "loadBalancer: {warmup: {duration: 10s, aggression: 0.5}}",
            ("MS-DR-LOAD-BALANCER", "spec.trafficPolicy.loadBalancer.warmup.aggression"),
        ),
        (
            TP + "tls: {mode: ISTIO_MUTUAL, clientCertificate: /c.pem}",
            ("MS-DR-TLS", "spec.trafficPolicy.tls.clientCertificate"),
        ),
        (
            TP + "tls: {mode: MUTUAL, clientCertificate: /c.pem}",
            ("MS-DR-TLS", "spec.trafficPolicy.tls.privateKey"),
        ),
        (
            TP + "portLevelSettings: [{loadBalancer: {simple: RANDOM}}]",
            ("MS-DR-PORT-SETTINGS", "spec.trafficPolicy.portLevelSettings[0].port"),
        ),
        (
            TP
            + "portLevelSettings: [{port: {number: 80}, tls: {mode: SIMPLE}}, {port: {number: 80}, tls: {mode: SIMPLE}}]",
            ("MS-DR-PORT-SETTINGS", "spec.trafficPolicy.portLevelSettings[1].port.number"),
        ),
        (
            TP + "tunnel: {protocol: UDP, targetHost: proxy, targetPort: 8080}",
            ("MS-DR-TUNNEL", "spec.trafficPolicy.tunnel.protocol"),
        ),
        (
            TP + "tunnel: {targetHost: proxy, targetPort: 0}",
            ("MS-PORT", "spec.trafficPolicy.tunnel.targetPort"),
        ),
        (
            "host: reviews\nworkloadSelector: {matchLabels: {app: '*'}}",
            ("MS-SELECTOR", "spec.workloadSelector.matchLabels[app]"),
        ),
        ("host: reviews\nexportTo: ['.', '.']", ("MS-EXPORT-TO", "spec.exportTo[1]")),
        (
            "host: reviews\nsubsets: [{name: v1, trafficPolicy: {connectionPool: {}}}]",
            ("MS-DR-CONNECTION-POOL", "spec.subsets[0].trafficPolicy.connectionPool"),
        ),
    ],
)
def test_rule(spec: str, expected: tuple[str, str]) -> None:
    assert expected in findings("DestinationRule", spec)


def test_warnings() -> None:
    spec = (
        TP
        + "outlierDetection: {consecutiveErrors: 5}\n  loadBalancer: {localityLbSetting: {failover: [{from: a, to: b}]}}"
    )
    assert findings("DestinationRule", spec) == []
    spec2 = TP + "loadBalancer: {localityLbSetting: {failover: [{from: a, to: b}]}}"
    assert (
        "MS-DR-LOCALITY",
        "spec.trafficPolicy.loadBalancer.localityLbSetting.failover",
    ) in findings("DestinationRule", spec2, warnings=True)
    assert ("MS-DR-OUTLIER", "spec.trafficPolicy.outlierDetection.consecutiveErrors") in findings(
        "DestinationRule", spec, warnings=True
    )


@pytest.mark.parametrize(
    "spec",
    [
        "host: '*.example.com'",
        TP + "tls: {mode: MUTUAL, credentialName: client}",
        TP + "loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}",
    ],
)
def test_accepted(spec: str) -> None:
    assert findings("DestinationRule", spec) == []
