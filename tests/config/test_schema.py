import pytest

from mainsail.config.istio import DestinationRule, VirtualService
from mainsail.config.kube.workloads import Deployment
from mainsail.config.schema import KINDS, by_kind, lookup


@pytest.mark.parametrize(
    "word",
    ["virtualservices", "virtualservice", "vs", "VirtualService", "VS", " VirtualServices ",
     "virtualservices.networking.istio.io"],
)  # fmt: skip
def test_lookup_resolves_every_spelling(word: str) -> None:
    schema = lookup(word)
    assert schema is not None
    assert schema.model is VirtualService


@pytest.mark.parametrize(
    ("word", "kind"),
    [("dr", "DestinationRule"), ("se", "ServiceEntry"), ("gw", "Gateway"), ("we", "WorkloadEntry"),
     ("wg", "WorkloadGroup"), ("sidecars", "Sidecar"), ("svc", "Service"), ("sa", "ServiceAccount"),
     ("po", "Pod"), ("deploy", "Deployment"), ("deployments.apps", "Deployment")],
)  # fmt: skip
def test_short_names(word: str, kind: str) -> None:
    schema = lookup(word)
    assert schema is not None and schema.kind == kind


def test_unknown_word() -> None:
    assert lookup("frobnicators") is None


_CLUSTER_SCOPED = ("MeshPolicy", "ClusterRbacConfig")


def test_security_kinds() -> None:
    for word, kind, versions in (
        ("pa", "PeerAuthentication", ("security.istio.io/v1", "security.istio.io/v1beta1")),
        ("ra", "RequestAuthentication", ("security.istio.io/v1", "security.istio.io/v1beta1")),
        ("ap", "AuthorizationPolicy", ("security.istio.io/v1", "security.istio.io/v1beta1")),
        ("policies", "Policy", ("authentication.istio.io/v1alpha1",)),
        ("meshpolicy", "MeshPolicy", ("authentication.istio.io/v1alpha1",)),
        ("servicerolebindings", "ServiceRoleBinding", ("rbac.istio.io/v1alpha1",)),
        ("clusterrbacconfig", "ClusterRbacConfig", ("rbac.istio.io/v1alpha1",)),
    ):
        schema = lookup(word)
        assert schema is not None and schema.kind == kind
        assert schema.api_versions == versions
        assert schema.legacy == versions[0].endswith("v1alpha1")
        assert schema.namespaced == (kind not in _CLUSTER_SCOPED)


def test_table_is_consistent() -> None:
    words = [w for s in KINDS for w in s.names()]
    assert len(words) == len(set(words)), "a word names two kinds"
    for schema in KINDS:
        assert schema.model.model_fields["kind"].default in (schema.kind, None) or (
            schema.group in ("", "apps")
        )
        # Only the legacy mesh singletons (MeshPolicy, ClusterRbacConfig) are cluster-scoped.
        assert schema.namespaced or (schema.legacy and schema.kind in _CLUSTER_SCOPED)


def test_api_versions() -> None:
    dr = by_kind("DestinationRule")
    assert dr is not None and dr.model is DestinationRule
    assert dr.api_versions == (
        "networking.istio.io/v1",
        "networking.istio.io/v1beta1",
        "networking.istio.io/v1alpha3",
    )
    assert dr.preferred_api_version == "networking.istio.io/v1"
    deploy = by_kind("Deployment")
    assert deploy is not None and deploy.model is Deployment
    assert deploy.api_versions == ("apps/v1",)
    svc = by_kind("Service")
    assert svc is not None and svc.api_versions == ("v1",)
    assert by_kind("virtualservice") is None  # documents spell kinds exactly
