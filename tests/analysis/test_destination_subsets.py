from tests.analysis.helpers import codes, lines

DR = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
---
"""
VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: %s}
    mirror: {host: reviews, subset: %s}
"""


def test_defined_subsets_are_clean() -> None:
    assert codes(DR + VS % ("v1", "v1")) == []


def test_undefined_subsets_are_reported_for_routes_and_mirrors() -> None:
    assert lines(DR + VS % ("v2", "v3")) == [
        "Error [IST0101] (VirtualService default/reviews) Referenced host+subset in "
        'destinationrule not found: "reviews+v2"',
        "Error [IST0101] (VirtualService default/reviews) Referenced mirror+subset in "
        'destinationrule not found: "reviews+v3"',
    ]


def test_a_rule_in_another_namespace_with_the_fqdn_defines_the_subset() -> None:
    dr = DR.replace(
        "metadata: {name: reviews}", "metadata: {name: reviews, namespace: istio-system}"
    )
    dr = dr.replace("host: reviews\n", "host: reviews.default.svc.cluster.local\n")
    assert codes(dr + VS % ("v1", "v1")) == []
