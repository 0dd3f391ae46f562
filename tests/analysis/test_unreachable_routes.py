from tests.analysis.helpers import codes, lines


def vs(http: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [reviews]
  http:
{http}
"""


ROUTE = "    route: [{destination: {host: reviews}}]\n"


def test_ordered_matches_then_catch_all_are_clean() -> None:
    http = "  - match: [{uri: {prefix: /a}}]\n" + ROUTE + "  - match: [{uri: {prefix: /b}}]\n"
    assert codes(vs(http + ROUTE + "  - name: rest\n" + ROUTE)) == []


def test_rules_after_a_catch_all_are_unreachable() -> None:
    http = "  - name: rest\n" + ROUTE + "  - match: [{uri: {prefix: /a}}]\n" + ROUTE
    http += "  - name: again\n" + ROUTE
    assert lines(vs(http)) == [
        "Warning [IST0130] (VirtualService default/reviews) VirtualService rule #1 not used "
        "(route without matches defined before).",
        'Warning [IST0130] (VirtualService default/reviews) VirtualService rule "again" not used '
        "(only the last rule can have no matches).",
    ]


def test_duplicate_matches_are_ineffective() -> None:
    http = "  - match: [{uri: {prefix: /a}}]\n" + ROUTE
    http += "  - match: [{name: dup, uri: {prefix: /a}}, {uri: {prefix: /b}}]\n" + ROUTE
    http += "  - match: [{uri: {prefix: /b}}]\n" + ROUTE
    assert lines(vs(http)) == [
        "Warning [IST0130] (VirtualService default/reviews) VirtualService rule #2 not used "
        "(all matches used by prior rules).",
        'Info [IST0131] (VirtualService default/reviews) VirtualService rule #1 match "dup" is '
        "not used (duplicate/overlapping match in rule #0).",
        "Info [IST0131] (VirtualService default/reviews) VirtualService rule #2 match #0 is not "
        "used (duplicate/overlapping match in rule #1).",
    ]


def test_tcp_rules_are_checked_too() -> None:
    text = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [reviews]
  tcp:
  - route: [{destination: {host: reviews}}]
  - match: [{port: 9080}]
    route: [{destination: {host: reviews}}]
"""
    assert codes(text) == ["IST0130"]


def test_a_longer_prefix_after_a_shorter_one_is_shadowed() -> None:
    http = "  - match: [{uri: {prefix: /api}}]\n" + ROUTE
    http += "  - name: v2\n    match: [{name: deep, uri: {prefix: /api/v2}}]\n" + ROUTE
    assert lines(vs(http)) == [
        'Info [IST0131] (VirtualService default/reviews) VirtualService rule "v2" match "deep" of '
        "prefix /api/v2 is not used (duplicate/overlapping match in rule #0 of prefix /api on "
        "#0).",
    ]


def test_prefix_overlap_needs_the_same_port_headers_and_a_covering_method() -> None:
    # Istio's coveredValidation: other header keys, another port or a narrower earlier method
    # leave the later match reachable; the shorter prefix second is fine too.
    for earlier, later in (
        ("{uri: {prefix: /a}, headers: {x: {exact: '1'}}}", "{uri: {prefix: /a/b}}"),
        ("{uri: {prefix: /a}, port: 80}", "{uri: {prefix: /a/b}, port: 81}"),
        ("{uri: {prefix: /a/b}}", "{uri: {prefix: /a}}"),
        ("{uri: {prefix: /a}, method: {exact: POST}}", "{uri: {prefix: /a/b}}"),
    ):
        http = f"  - match: [{earlier}]\n" + ROUTE + f"  - match: [{later}]\n" + ROUTE
        assert codes(vs(http)) == [], (earlier, later)
    # An earlier header value extending the later one's counts as covering: Istio's prefix test.
    http = "  - match: [{uri: {prefix: /a}, headers: {x: {prefix: ab}}}]\n" + ROUTE
    http += "  - match: [{uri: {prefix: /a/b}, headers: {x: {prefix: a}}}]\n" + ROUTE
    assert codes(vs(http)) == ["IST0131"]
