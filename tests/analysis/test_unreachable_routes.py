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
