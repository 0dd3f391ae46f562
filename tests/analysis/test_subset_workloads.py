from tests.analysis.helpers import codes, lines

DR = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: %s
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""


def test_subset_without_workloads_is_reported() -> None:
    assert lines(DR % "reviews") == [
        "Error [IST0173] (DestinationRule default/reviews) The Subset v2 defined in the "
        "DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream)."
    ]


def test_pods_count_as_workloads() -> None:
    pod = """
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v2-abc, labels: {app: reviews, version: v2}}
"""
    assert codes(DR % "reviews" + pod) == []


def test_workloads_of_another_service_do_not_count() -> None:
    pod = """
---
apiVersion: v1
kind: Pod
metadata: {name: ratings-v2, labels: {app: ratings, version: v2}}
"""
    assert codes(DR % "reviews" + pod) == ["IST0173"]


def test_unknown_host_is_reported() -> None:
    assert lines(DR % "reviewz") == [
        "Warning [IST0174] (DestinationRule default/reviews) The host reviewz defined in the "
        "DestinationRule does not match any services in the mesh."
    ]


def test_wildcard_host_matching_a_service_is_known() -> None:
    assert codes(DR % '"*.default.svc.cluster.local"') == ["IST0173"]


def test_service_entry_endpoints_are_its_workloads() -> None:
    text = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db.example.com]
  addresses: [240.0.0.1]  # a TCP entry needs one (IST0134)
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, labels: {version: v1}}
---
""" + (DR % "db.example.com")
    assert codes(text) == ["IST0173"]
