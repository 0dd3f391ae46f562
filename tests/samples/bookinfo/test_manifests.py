"""BookInfo's YAML: Istio's file names, kinds and names, and parseable by the mesh's models."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from mainsail.config.base import Resource
from mainsail.config.istio import DestinationRule, Gateway, VirtualService
from mainsail.config.kube.service import Service, ServiceAccount
from mainsail.config.kube.workloads import Deployment

BOOKINFO = resources.files("mainsail.samples.bookinfo")
REPO_ROOT = Path(__file__).resolve().parents[3]

MODELS: dict[str, type[Resource]] = {
    "Service": Service,
    "ServiceAccount": ServiceAccount,
    "Deployment": Deployment,
    "Gateway": Gateway,
    "VirtualService": VirtualService,
    "DestinationRule": DestinationRule,
}

NETWORKING: dict[str, list[tuple[str, str]]] = {
    "bookinfo-gateway.yaml": [("Gateway", "bookinfo-gateway"), ("VirtualService", "bookinfo")],
    "destination-rule-all.yaml": [
        ("DestinationRule", "productpage"),
        ("DestinationRule", "reviews"),
        ("DestinationRule", "ratings"),
        ("DestinationRule", "details"),
    ],
    "virtual-service-all-v1.yaml": [
        ("VirtualService", "productpage"),
        ("VirtualService", "reviews"),
        ("VirtualService", "ratings"),
        ("VirtualService", "details"),
    ],
    "virtual-service-reviews-50-v3.yaml": [("VirtualService", "reviews")],
    "virtual-service-reviews-v3.yaml": [("VirtualService", "reviews")],
    "virtual-service-reviews-90-10.yaml": [("VirtualService", "reviews")],
    "virtual-service-reviews-80-20.yaml": [("VirtualService", "reviews")],
    "virtual-service-reviews-jason-v2-v3.yaml": [("VirtualService", "reviews")],
    "virtual-service-reviews-test-v2.yaml": [("VirtualService", "reviews")],
    "virtual-service-reviews-v2-v3.yaml": [("VirtualService", "reviews")],
    "virtual-service-ratings-test-delay.yaml": [("VirtualService", "ratings")],
    "virtual-service-ratings-test-abort.yaml": [("VirtualService", "ratings")],
}


def _documents(relative: str) -> list[dict[str, Any]]:
    text = BOOKINFO.joinpath(relative).read_text(encoding="utf-8")
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def _routes(doc: dict[str, Any]) -> list[list[tuple[str, int]]]:
    """Per HTTP route: its (subset, weight) destinations."""
    return [
        [(d["destination"]["subset"], d.get("weight", 100)) for d in http["route"]]
        for http in doc["spec"]["http"]
    ]


def test_networking_holds_exactly_istios_files() -> None:
    names = {entry.name for entry in BOOKINFO.joinpath("networking").iterdir()}
    assert names == set(NETWORKING)


@pytest.mark.parametrize("name", sorted(NETWORKING))
def test_networking_file_kinds_and_names(name: str) -> None:
    docs = _documents(f"networking/{name}")

    assert [(doc["kind"], doc["metadata"]["name"]) for doc in docs] == NETWORKING[name]
    for doc in docs:
        assert doc["apiVersion"] == "networking.istio.io/v1"
        MODELS[doc["kind"]].model_validate(doc)


def test_gateway_routes_productpage_paths() -> None:
    gateway, virtual_service = _documents("networking/bookinfo-gateway.yaml")

    assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}
    assert gateway["spec"]["servers"][0]["port"] == {
        "number": 8080,
        "name": "http",
        "protocol": "HTTP",
    }
    assert virtual_service["spec"]["gateways"] == ["bookinfo-gateway"]
    (http,) = virtual_service["spec"]["http"]
    assert [match["uri"] for match in http["match"]] == [
        {"exact": "/productpage"},
        {"prefix": "/static"},
        {"exact": "/login"},
        {"exact": "/logout"},
        {"prefix": "/api/v1/products"},
    ]
    assert http["route"] == [{"destination": {"host": "productpage", "port": {"number": 9080}}}]


@pytest.mark.parametrize(
    ("name", "routes"),
    [
        ("virtual-service-reviews-v3.yaml", [[("v3", 100)]]),
        ("virtual-service-reviews-50-v3.yaml", [[("v1", 50), ("v3", 50)]]),
        ("virtual-service-reviews-90-10.yaml", [[("v1", 90), ("v2", 10)]]),
        ("virtual-service-reviews-80-20.yaml", [[("v1", 80), ("v2", 20)]]),
        ("virtual-service-reviews-v2-v3.yaml", [[("v2", 50), ("v3", 50)]]),
        ("virtual-service-reviews-jason-v2-v3.yaml", [[("v2", 100)], [("v3", 100)]]),
        ("virtual-service-reviews-test-v2.yaml", [[("v2", 100)], [("v1", 100)]]),
        ("virtual-service-ratings-test-delay.yaml", [[("v1", 100)], [("v1", 100)]]),
        ("virtual-service-ratings-test-abort.yaml", [[("v1", 100)], [("v1", 100)]]),
    ],
)
def test_virtual_service_routes(name: str, routes: list[list[tuple[str, int]]]) -> None:
    (doc,) = _documents(f"networking/{name}")

    assert _routes(doc) == routes
    if len(routes) == 2:
        assert doc["spec"]["http"][0]["match"] == [{"headers": {"end-user": {"exact": "jason"}}}]


def test_ratings_faults_apply_to_jason_only() -> None:
    (delay,) = _documents("networking/virtual-service-ratings-test-delay.yaml")
    (abort,) = _documents("networking/virtual-service-ratings-test-abort.yaml")

    assert delay["spec"]["http"][0]["fault"] == {
        "delay": {"percentage": {"value": 100.0}, "fixedDelay": "7s"}
    }
    assert abort["spec"]["http"][0]["fault"] == {
        "abort": {"percentage": {"value": 100.0}, "httpStatus": 500}
    }
    assert "fault" not in delay["spec"]["http"][1]
    assert "fault" not in abort["spec"]["http"][1]


def test_destination_rules_define_version_subsets() -> None:
    subsets = {
        doc["spec"]["host"]: {s["name"]: s["labels"] for s in doc["spec"]["subsets"]}
        for doc in _documents("networking/destination-rule-all.yaml")
    }

    assert set(subsets) == {"productpage", "reviews", "ratings", "details"}
    assert subsets["reviews"] == {v: {"version": v} for v in ("v1", "v2", "v3")}
    assert subsets["ratings"]["v1"] == {"version": "v1"}


def test_platform_manifest() -> None:
    docs = _documents("platform/bookinfo.yaml")
    for doc in docs:
        MODELS[doc["kind"]].model_validate(doc)
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc

    services = by_kind["Service"]
    assert set(services) == {"details", "ratings", "reviews", "productpage"}
    for name, service in services.items():
        assert service["metadata"]["labels"] == {"app": name, "service": name}
        assert service["spec"]["ports"] == [{"port": 9080, "name": "http"}]
        assert service["spec"]["selector"] == {"app": name}
    assert set(by_kind["ServiceAccount"]) == {
        f"bookinfo-{name}" for name in ("details", "ratings", "reviews", "productpage")
    }

    deployments = by_kind["Deployment"]
    assert set(deployments) == {
        "details-v1",
        "ratings-v1",
        "reviews-v1",
        "reviews-v2",
        "reviews-v3",
        "productpage-v1",
    }
    for name, deployment in deployments.items():
        app, version = name.rsplit("-", 1)
        template = deployment["spec"]["template"]
        assert template["metadata"]["labels"] == {"app": app, "version": version}
        assert template["spec"]["serviceAccountName"] == f"bookinfo-{app}"
        (container,) = template["spec"]["containers"]
        assert container["command"] == ["python", "-m", f"mainsail.samples.bookinfo.{app}"]
        assert container["ports"] == [{"containerPort": 9080}]
        assert container["image"]
        if app == "reviews":
            env = {var["name"]: var["value"] for var in container["env"]}
            assert env["SERVICE_VERSION"] == version
            assert env["ENABLE_RATINGS"] == ("false" if version == "v1" else "true")
            assert env.get("STAR_COLOR") == {"v1": None, "v2": "black", "v3": "red"}[version]


def test_samples_symlink_reaches_the_package_data() -> None:
    gateway = REPO_ROOT / "samples" / "bookinfo" / "networking" / "bookinfo-gateway.yaml"
    assert gateway.is_file()
    assert (REPO_ROOT / "samples").resolve() == Path(str(BOOKINFO)).resolve().parent
