import pytest

from tests.config.validation.helpers import errors, findings

ROUTE = "route: [{destination: {host: reviews}}]"


def vs(http: str, hosts: str = "[reviews]", extra: str = "") -> str:
    return f"hosts: {hosts}\n{extra}http:\n- {http}"


def test_located_message() -> None:
    (error,) = errors(
        "VirtualService",
        vs(
            "route: [{destination: {host: reviews}, weight: -1}, {destination: {host: r2}, weight: 5}]"
        ),
    )
    assert (
        str(error)
        == "t.yaml: document 1 (VirtualService default/t): spec.http[0].route[0].weight: must be >= 0 [MS-VS-WEIGHT]"
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("hosts: [reviews]", ("MS-VS-NO-ROUTES", "spec")),
        (vs(ROUTE, hosts="['*']"), ("MS-VS-HOSTS", "spec.hosts[0]")),
        (vs(ROUTE, hosts="['*.', reviews]"), ("MS-VS-HOSTS", "spec.hosts[0]")),
        (vs(ROUTE, hosts="['foo*.com']"), ("MS-VS-HOSTS", "spec.hosts[0]")),
        (vs(ROUTE, hosts="[reviews, reviews]"), ("MS-VS-HOSTS", "spec.hosts[1]")),
        (vs(ROUTE, extra="gateways: ['bad_ns/gw']\n"), ("MS-VS-GATEWAY", "spec.gateways[0]")),
        (vs(ROUTE, extra="exportTo: ['*', 'ns1']\n"), ("MS-EXPORT-TO", "spec.exportTo")),
        (vs(ROUTE, extra="exportTo: ['Not_A_Namespace']\n"), ("MS-EXPORT-TO", "spec.exportTo[0]")),
        ("gateways: [gw]\nhttp:\n- " + ROUTE, ("MS-VS-DELEGATE", "spec.gateways")),
        (vs("match: [{uri: {prefix: /}}]"), ("MS-VS-ACTION", "spec.http[0]")),
        (vs(ROUTE + "\n  redirect: {uri: /x}"), ("MS-VS-ACTION", "spec.http[0]")),
        (
            vs("redirect: {uri: /x}\n  fault: {abort: {httpStatus: 500}}"),
            ("MS-VS-ACTION", "spec.http[0].fault"),
        ),
        (
            vs("directResponse: {status: 200}\n  rewrite: {uri: /x}"),
            ("MS-VS-ACTION", "spec.http[0].rewrite"),
        ),
        (
            vs("route: [{destination: {host: a}, weight: 0}, {destination: {host: b}, weight: 0}]"),
            ("MS-VS-WEIGHT", "spec.http[0].route"),
        ),
        (
            vs("route: [{destination: {host: '*'}}]"),
            ("MS-VS-DESTINATION", "spec.http[0].route[0].destination.host"),
        ),
        (
            vs("route: [{destination: {host: reviews, subset: v_1}}]"),
            ("MS-VS-SUBSET", "spec.http[0].route[0].destination.subset"),
        ),
        (
            vs("route: [{destination: {host: reviews, port: {number: 70000}}}]"),
            ("MS-PORT", "spec.http[0].route[0].destination.port.number"),
        ),
        (
            vs(ROUTE + "\n  retries: {attempts: -1}"),
            ("MS-VS-RETRY", "spec.http[0].retries.attempts"),
        ),
        (
            vs(ROUTE + "\n  retries: {attempts: 0, retryOn: 5xx}"),
            ("MS-VS-RETRY", "spec.http[0].retries"),
        ),
        (
            vs(ROUTE + "\n  retries: {attempts: 2, retryOn: '5xx,bogus'}"),
            ("MS-VS-RETRY-ON", "spec.http[0].retries.retryOn"),
        ),
        (
            vs(ROUTE + "\n  retries: {attempts: 2, perTryTimeout: 500us}"),
            ("MS-DURATION", "spec.http[0].retries.perTryTimeout"),
        ),
        (vs(ROUTE + "\n  timeout: 0s"), ("MS-DURATION", "spec.http[0].timeout")),
        (vs(ROUTE + "\n  timeout: 1.0005s"), ("MS-DURATION", "spec.http[0].timeout")),
        (
            vs("match: [{uri: {regex: '(unclosed'}}]\n  " + ROUTE),
            ("MS-REGEX", "spec.http[0].match[0].uri.regex"),
        ),
        (
            vs("match: [{uri: {regex: '(?=lookahead)'}}]\n  " + ROUTE),
            ("MS-REGEX", "spec.http[0].match[0].uri.regex"),
        ),
        (
            vs("match: [{headers: {x-a: {regex: '(a)\\\\1'}}}]\n  " + ROUTE),
            ("MS-REGEX", "spec.http[0].match[0].headers[x-a].regex"),
        ),
        (
            vs("match: [{uri: {prefix: ''}}]\n  " + ROUTE),
            ("MS-STRING-MATCH", "spec.http[0].match[0].uri.prefix"),
        ),
        (
            vs("match: [{headers: {'bad header': {exact: x}}}]\n  " + ROUTE),
            ("MS-HEADER-NAME", "spec.http[0].match[0].headers[bad header]"),
        ),
        (
            vs("match: [{sourceNamespace: Bad_NS}]\n  " + ROUTE),
            ("MS-VS-MATCH", "spec.http[0].match[0].sourceNamespace"),
        ),
        (
            vs("redirect: {redirectCode: 200, uri: /x}"),
            ("MS-VS-REDIRECT", "spec.http[0].redirect.redirectCode"),
        ),
        (vs("redirect: {redirectCode: 301}"), ("MS-VS-REDIRECT", "spec.http[0].redirect")),
        (
            vs("directResponse: {status: 99}"),
            ("MS-VS-DIRECT-RESPONSE", "spec.http[0].directResponse.status"),
        ),
        (
            vs("directResponse: {status: 200, body: {bytes: '!!notbase64'}}"),
            ("MS-VS-DIRECT-RESPONSE", "spec.http[0].directResponse.body.bytes"),
        ),
        (vs(ROUTE + "\n  fault: {}"), ("MS-VS-FAULT", "spec.http[0].fault")),
        (
            vs(ROUTE + "\n  fault: {abort: {httpStatus: 700}}"),
            ("MS-VS-FAULT", "spec.http[0].fault.abort.httpStatus"),
        ),
        (
            vs(ROUTE + "\n  fault: {delay: {fixedDelay: 1s, percentage: {value: 101}}}"),
            ("MS-PERCENT", "spec.http[0].fault.delay.percentage.value"),
        ),
        (
            vs(ROUTE + "\n  fault: {delay: {fixedDelay: 1s, percent: 120}}"),
            ("MS-PERCENT", "spec.http[0].fault.delay.percent"),
        ),
        (
            vs(ROUTE + "\n  mirror: {host: m}\n  mirrors: [{destination: {host: m2}}]"),
            ("MS-VS-MIRROR", "spec.http[0].mirrors"),
        ),
        (
            vs(ROUTE + "\n  mirror: {host: m}\n  mirrorPercentage: {value: 150}"),
            ("MS-PERCENT", "spec.http[0].mirrorPercentage.value"),
        ),
        (
            vs(ROUTE + "\n  mirror: {host: m}\n  mirrorPercent: 101"),
            ("MS-PERCENT", "spec.http[0].mirrorPercent"),
        ),
        (vs(ROUTE + "\n  rewrite: {}"), ("MS-VS-REWRITE", "spec.http[0].rewrite")),
        (
            vs(ROUTE + "\n  rewrite: {uri: /a, uriRegexRewrite: {match: a, rewrite: b}}"),
            ("MS-VS-REWRITE", "spec.http[0].rewrite"),
        ),
        (
            vs(ROUTE + "\n  headers: {request: {set: {':path': /x}}}"),
            ("MS-VS-HEADERS", "spec.http[0].headers.request.set[:path]"),
        ),
        (
            vs(ROUTE + "\n  headers: {request: {set: {host: a, ':authority': b}}}"),
            ("MS-VS-HEADERS", "spec.http[0].headers.request"),
        ),
        (
            vs(ROUTE + "\n  corsPolicy: {allowMethods: [get]}"),
            ("MS-VS-CORS", "spec.http[0].corsPolicy.allowMethods[0]"),
        ),
        (
            vs(ROUTE + "\n  corsPolicy: {maxAge: 1500ms}"),
            ("MS-VS-CORS", "spec.http[0].corsPolicy.maxAge"),
        ),
        (
            "hosts: ['*.bookinfo.com']\ngateways: [gw]\ntls:\n- match: [{sniHosts: [login.other.com]}]\n  route: [{destination: {host: login}}]",
            ("MS-VS-TLS-ROUTE", "spec.tls[0].match[0].sniHosts[0]"),
        ),
        (
            "hosts: [a.com]\ngateways: [gw]\ntls:\n- match: [{sniHosts: [a.com]}]",
            ("MS-VS-TLS-ROUTE", "spec.tls[0].route"),
        ),
        (
            "hosts: [db]\ntcp:\n- match: [{destinationSubnets: [not-a-cidr]}]\n  route: [{destination: {host: db}}]",
            ("MS-VS-MATCH", "spec.tcp[0].match[0].destinationSubnets[0]"),
        ),
    ],
)
def test_rule(spec: str, expected: tuple[str, str]) -> None:
    assert expected in findings("VirtualService", spec)


@pytest.mark.parametrize(
    "spec",
    [
        vs(ROUTE, hosts="['*']", extra="gateways: [istio-system/gw]\n"),
        vs(ROUTE, hosts="['10.0.0.1']"),
        vs(ROUTE, extra="gateways: [mesh, ./gw, ns/gw]\n"),
        vs(ROUTE + "\n  retries: {attempts: 0}"),
        vs(ROUTE + "\n  retries: {attempts: 3, retryOn: 'gateway-error, 503, cancelled'}"),
        vs("route: [{destination: {host: a}, weight: 0}, {destination: {host: b}, weight: 100}]"),
        vs("match: [{headers: {'@request.auth.claims.group': {exact: admin}}}]\n  " + ROUTE),
        vs("delegate: {name: child, namespace: ns}"),
    ],
)
def test_accepted(spec: str) -> None:
    assert findings("VirtualService", spec) == []


def test_legacy_gateway_fqdn_and_empty_match_warn() -> None:
    spec = vs(
        "match: [{uri: {}}]\n  " + ROUTE, extra="gateways: [gw.istio-system.svc.cluster.local]\n"
    )
    assert findings("VirtualService", spec) == []
    assert sorted(findings("VirtualService", spec, warnings=True)) == [
        ("MS-STRING-MATCH", "spec.http[0].match[0].uri"),
        ("MS-VS-GATEWAY", "spec.gateways[0]"),
    ]
