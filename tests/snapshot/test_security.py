"""Scope resolution of the security kinds for one workload (Istio's precedence rules)."""

from __future__ import annotations

import pytest

from mainsail.config.mesh import MeshConfig
from mainsail.config.parse import parse_documents
from mainsail.snapshot.mesh_snapshot import MeshSnapshot, build_snapshot
from mainsail.snapshot.security import (
    WorkloadMtls,
    authorization_policies_for,
    namespace_mtls_mode,
    request_authentications_for,
    workload_mtls,
    workload_security,
)

APP = {"app": "reviews", "version": "v1"}


def _doc(kind: str, name: str, namespace: str, spec: str, created: str = "2024-01-01") -> str:
    return f"""
apiVersion: security.istio.io/v1
kind: {kind}
metadata: {{name: {name}, namespace: {namespace}, creationTimestamp: "{created}T00:00:00Z"}}
spec: {spec}
---
"""


def _pa(name: str, namespace: str, spec: str, created: str = "2024-01-01") -> str:
    return _doc("PeerAuthentication", name, namespace, spec, created)


def _snapshot(*docs: str, mesh: MeshConfig | None = None) -> MeshSnapshot:
    parsed = parse_documents("".join(docs))
    assert parsed.ok, parsed.errors
    return build_snapshot(parsed.resources, mesh)


def test_nothing_is_permissive() -> None:
    snap = _snapshot()
    assert workload_mtls(snap, "shop", APP) == WorkloadMtls(mode="PERMISSIVE")
    assert namespace_mtls_mode(snap, "shop") == "PERMISSIVE"


@pytest.mark.parametrize(
    ("mesh", "namespace", "workload", "expected"),
    [
        ("STRICT", None, None, "STRICT"),
        ("STRICT", "DISABLE", None, "DISABLE"),
        ("DISABLE", "UNSET", None, "DISABLE"),  # UNSET inherits the mesh
        ("STRICT", "PERMISSIVE", "STRICT", "STRICT"),
        ("STRICT", "DISABLE", "UNSET", "DISABLE"),  # UNSET inherits the namespace
        (None, None, "UNSET", "PERMISSIVE"),
        ("UNSET", None, None, "PERMISSIVE"),
    ],
)
def test_precedence_workload_namespace_mesh(
    mesh: str | None, namespace: str | None, workload: str | None, expected: str
) -> None:
    docs = []
    if mesh:
        docs.append(_pa("mesh", "istio-system", f"{{mtls: {{mode: {mesh}}}}}"))
    if namespace:
        docs.append(_pa("ns", "shop", f"{{mtls: {{mode: {namespace}}}}}"))
    if workload:
        docs.append(
            _pa(
                "wl",
                "shop",
                f"{{selector: {{matchLabels: {{app: reviews}}}}, mtls: {{mode: {workload}}}}}",
            )
        )
    assert workload_mtls(_snapshot(*docs), "shop", APP).mode == expected


def test_workload_policy_must_select_the_workload() -> None:
    snap = _snapshot(
        _pa("ns", "shop", "{mtls: {mode: STRICT}}"),
        _pa("other", "shop", "{selector: {matchLabels: {app: ratings}}, mtls: {mode: DISABLE}}"),
        _pa("elsewhere", "other", "{mtls: {mode: DISABLE}}"),
    )
    assert workload_mtls(snap, "shop", APP).mode == "STRICT"
    assert workload_mtls(snap, "shop", {"app": "ratings"}).mode == "DISABLE"
    assert workload_mtls(snap, "other", APP).mode == "DISABLE"


def test_oldest_wins_at_each_level() -> None:
    snap = _snapshot(
        _pa("newer-ns", "shop", "{mtls: {mode: DISABLE}}", created="2024-03-01"),
        _pa("older-ns", "shop", "{mtls: {mode: STRICT}}", created="2024-02-01"),
        _pa("b-mesh", "istio-system", "{mtls: {mode: DISABLE}}", created="2024-01-01"),
        _pa("a-mesh", "istio-system", "{mtls: {mode: STRICT}}", created="2024-01-01"),
    )
    assert workload_mtls(snap, "shop", APP).mode == "STRICT"
    # Same creation time: the name breaks the tie (a-mesh first).
    assert workload_mtls(snap, "other", APP).mode == "STRICT"
    assert namespace_mtls_mode(snap, "shop") == "STRICT"
    wl_new = _pa(
        "wl-new",
        "shop",
        "{selector: {matchLabels: {app: reviews}}, mtls: {mode: STRICT}}",
        "2024-05-01",
    )
    wl_old = _pa(
        "wl-old",
        "shop",
        "{selector: {matchLabels: {version: v1}}, mtls: {mode: DISABLE}}",
        "2024-04-01",
    )
    assert workload_mtls(_snapshot(wl_new, wl_old), "shop", APP).mode == "DISABLE"


def test_port_level_only_from_the_workload_policy() -> None:
    snap = _snapshot(
        _pa("ns", "shop", "{mtls: {mode: STRICT}}"),
        _pa(
            "wl",
            "shop",
            """{selector: {matchLabels: {app: reviews}},
                portLevelMtls: {"9080": {mode: DISABLE}, "9443": {mode: UNSET}, "8080": {}}}""",
        ),
    )
    mtls = workload_mtls(snap, "shop", APP)
    assert mtls.mode == "STRICT"  # the workload policy sets no mode: inherits the namespace
    assert mtls.port_modes == ((8080, "STRICT"), (9080, "DISABLE"), (9443, "STRICT"))
    assert mtls.mode_for(9080) == "DISABLE"
    assert mtls.mode_for(1234) == "STRICT"


def test_selector_policies_in_the_root_namespace_are_ignored_for_mtls() -> None:
    snap = _snapshot(
        _pa(
            "root-wl",
            "istio-system",
            "{selector: {matchLabels: {app: reviews}}, mtls: {mode: STRICT}}",
        )
    )
    assert workload_mtls(snap, "shop", APP).mode == "PERMISSIVE"


def test_root_namespace_follows_mesh_config() -> None:
    docs = (_pa("mesh", "mesh-root", "{mtls: {mode: STRICT}}"),)
    assert workload_mtls(_snapshot(*docs), "shop", APP).mode == "PERMISSIVE"
    snap = _snapshot(*docs, mesh=MeshConfig(root_namespace="mesh-root"))
    assert workload_mtls(snap, "shop", APP).mode == "STRICT"
    assert namespace_mtls_mode(snap, "shop") == "STRICT"


def test_namespace_mode_ignores_workload_policies() -> None:
    snap = _snapshot(
        _pa("mesh", "istio-system", "{mtls: {mode: STRICT}}"),
        _pa("ns", "shop", "{mtls: {mode: UNSET}}"),
        _pa("wl", "shop", "{selector: {matchLabels: {app: reviews}}, mtls: {mode: DISABLE}}"),
        _pa("other", "other", "{mtls: {mode: DISABLE}}"),
    )
    assert namespace_mtls_mode(snap, "shop") == "STRICT"
    assert namespace_mtls_mode(snap, "other") == "DISABLE"
    assert namespace_mtls_mode(snap, "third") == "STRICT"


def _ap(name: str, namespace: str, spec: str, created: str = "2024-01-01") -> str:
    return _doc("AuthorizationPolicy", name, namespace, spec, created)


def test_authorization_policy_selection_and_order() -> None:
    snap = _snapshot(
        _ap("ns-late", "shop", "{}", created="2024-02-01"),
        _ap("ns-early", "shop", "{action: DENY, rules: [{}]}", created="2024-01-15"),
        _ap("root", "istio-system", "{}"),
        _ap("root-selected", "istio-system", "{selector: {matchLabels: {app: reviews}}}"),
        _ap("picked", "shop", "{selector: {matchLabels: {version: v1}}}"),
        _ap("not-picked", "shop", "{selector: {matchLabels: {version: v2}}}"),
        _ap("other-ns", "other", "{}"),
        _ap(
            "gateway",
            "shop",
            "{targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]}",
        ),
    )
    names = [p.name for p in authorization_policies_for(snap, "shop", APP)]
    assert names == ["root", "root-selected", "picked", "ns-early", "ns-late"]
    assert [p.name for p in authorization_policies_for(snap, "istio-system", {})] == ["root"]


def test_request_authentication_selection() -> None:
    rule = "{jwtRules: [{issuer: x}]}"
    snap = _snapshot(
        _doc("RequestAuthentication", "ns", "shop", rule),
        _doc(
            "RequestAuthentication",
            "wl",
            "shop",
            "{selector: {matchLabels: {app: ratings}}, jwtRules: [{issuer: y}]}",
        ),
    )
    assert [r.name for r in request_authentications_for(snap, "shop", APP)] == ["ns"]
    assert [r.name for r in request_authentications_for(snap, "shop", {"app": "ratings"})] == [
        "ns",
        "wl",
    ]


def test_workload_security_is_a_hashable_value() -> None:
    docs = (
        _pa("ns", "shop", "{mtls: {mode: STRICT}}"),
        _ap("a", "shop", "{selector: {matchLabels: {app: reviews}}, rules: [{}]}"),
    )
    first = workload_security(_snapshot(*docs), "shop", APP)
    second = workload_security(_snapshot(*docs), "shop", APP)
    assert first == second and hash(first) == hash(second)
    assert {first: 1}[second] == 1
    changed = workload_security(
        _snapshot(docs[0], _ap("a", "shop", "{selector: {matchLabels: {app: reviews}}}")),
        "shop",
        APP,
    )
    assert changed != first
