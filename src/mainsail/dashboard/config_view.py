"""``/api/config``: every stored resource with its validation status, the analyzer's findings
(``mainsail.analysis``, the messages ``mainsail analyze`` prints), the proxies whose config it can
change, and for the book's legacy security kinds their converted modern YAML.

"Affects" follows the scoping translation uses (``snapshot.view``): a VirtualService reaches
the sidecars that see it (exportTo, the Sidecar egress scope) when bound to ``mesh``, and the
gateway pods its Gateways select; a DestinationRule, Service or ServiceEntry the proxies that see
its hosts (a selector narrows a rule to its workloads); a Gateway the pods it selects; a Sidecar
the sidecars it governs; selector kinds (PeerAuthentication, AuthorizationPolicy,
RequestAuthentication, Telemetry) their selected workloads, their namespace without a selector,
every proxy from the root namespace; the book's Mixer rules every proxy (compiled into each
Envoy). Pure: the caller hands in the store's objects, the snapshot and the pods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from mainsail.analysis import Level, Message, analyze
from mainsail.config.base import Resource
from mainsail.config.kube.secret import Secret
from mainsail.config.legacy.convert import convert_legacy, is_legacy
from mainsail.config.mesh import MeshConfig
from mainsail.platform.pod import PodSpec
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.snapshot.view import Visibility, exported_to, governing_sidecar, visibility

_SELECTOR_KINDS = {
    "PeerAuthentication",
    "AuthorizationPolicy",
    "RequestAuthentication",
    "Telemetry",
    "EnvoyFilter",
    "WasmPlugin",
}
_MIXER_GROUP = "config.istio.io/"
_MESHWIDE_LEGACY = {"MeshPolicy", "ClusterRbacConfig"}
# The book's Mixer kinds have no document-for-document modern form: say what stands for them.
_MIXER_NOTE = (
    "# Mixer (config.istio.io) has no one-to-one modern document: Mainsail compiles this\n"
    "# handler/instance/rule into each Envoy's stats and access loggers (docs/observability.md);\n"
    "# in Istio 1.5+ the standard metrics and the Telemetry API (telemetry.istio.io) replace it.\n"
)


def proxy_node(pod: PodSpec) -> ProxyNode:
    return ProxyNode(
        node_id=f"{pod.proxy_type}~{pod.ip}~{pod.name}.{pod.namespace}~{pod.namespace}.svc.cluster.local",
        proxy_type=pod.proxy_type,
        ip=pod.ip,
        pod_name=pod.name,
        namespace=pod.namespace,
        labels=tuple(sorted(pod.labels.items())),
        service_account=pod.service_account,
        workload_name=pod.workload_name,
        interception_mode="NONE",
    )


def _spec(resource: Resource) -> Any:
    return getattr(resource, "spec", None)


def _selects(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def _selector(spec: Any) -> Mapping[str, str] | None:
    """A kind's workload selector, whichever of Istio's two shapes it has."""
    for name in ("selector", "workload_selector"):
        found = getattr(spec, name, None)
        if found is None:
            continue
        if isinstance(found, Mapping):
            return found
        labels = getattr(found, "match_labels", None) or getattr(found, "labels", None)
        return dict(labels or {})
    return None


def _host_matches(pattern: str, hostname: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return hostname.endswith(pattern[1:])
    return pattern == hostname


class _Scope:
    """Per-request cache: each pod's node and the visibility of its (namespace, Sidecar)."""

    def __init__(self, snapshot: MeshSnapshot, pods: Sequence[PodSpec]) -> None:
        self.snapshot = snapshot
        self.pods = tuple(pods)
        self.nodes = {pod.key: proxy_node(pod) for pod in pods}
        self._seen: dict[tuple[str, tuple[str, str] | None], Visibility] = {}

    def visibility(self, pod: PodSpec) -> Visibility:
        node = self.nodes[pod.key]
        sidecar = governing_sidecar(self.snapshot, node)
        key = (pod.namespace, None if sidecar is None else (sidecar.namespace, sidecar.name))
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = visibility(self.snapshot, pod.namespace, sidecar)
        return found

    def sees_host(self, pod: PodSpec, pattern: str) -> bool:
        return any(_host_matches(pattern, s.hostname) for s in self.visibility(pod).services)

    def fqdn(self, host: str, namespace: str) -> str:
        if "." in host or host == "*":
            return host
        return f"{host}.{namespace}.svc.{self.snapshot.mesh.domain}"


def _gateway_pods(resource: Resource, scope: _Scope) -> set[str]:
    selector = dict(getattr(_spec(resource), "selector", None) or {})
    return {
        p.key
        for p in scope.pods
        if p.proxy_type == "router" and selector and _selects(p.labels, selector)
    }


def _virtual_service(resource: Resource, scope: _Scope) -> set[str]:
    gateways = tuple(getattr(_spec(resource), "gateways", ()) or ()) or ("mesh",)
    found: set[str] = set()
    key = (resource.namespace, resource.name)
    if "mesh" in gateways:
        for pod in scope.pods:
            if pod.proxy_type != "sidecar":
                continue
            seen = scope.visibility(pod).virtual_services
            if any((vs.namespace, vs.name) == key for vs in seen):
                found.add(pod.key)
    for reference in gateways:
        if reference == "mesh":
            continue
        namespace, _, name = reference.rpartition("/")
        gateway = scope.snapshot.gateway(namespace or resource.namespace, name)
        if gateway is not None:
            found |= _gateway_pods(gateway, scope)
    return found


def _hosts(resource: Resource, scope: _Scope) -> tuple[str, ...]:
    if resource.kind == "Service":
        return (scope.fqdn(resource.name, resource.namespace),)
    if resource.kind == "DestinationRule":
        return (scope.fqdn(str(getattr(_spec(resource), "host", "")), resource.namespace),)
    return tuple(scope.fqdn(h, resource.namespace) for h in getattr(_spec(resource), "hosts", ()))


def _seeing_hosts(resource: Resource, scope: _Scope) -> set[str]:
    hosts = _hosts(resource, scope)
    export_to = frozenset(getattr(_spec(resource), "export_to", None) or ("*",))
    return {
        pod.key
        for pod in scope.pods
        if exported_to(export_to, resource.namespace, pod.namespace)
        and any(scope.sees_host(pod, h) for h in hosts)
    }


def _by_selector(resource: Resource, scope: _Scope, root_namespace: str) -> set[str]:
    selector = _selector(_spec(resource))
    if selector:
        return {
            p.key
            for p in scope.pods
            if p.namespace == resource.namespace and _selects(p.labels, selector)
        }
    if resource.namespace == root_namespace:
        return {p.key for p in scope.pods}
    return {p.key for p in scope.pods if p.namespace == resource.namespace}


def affected_proxies(resource: Resource, scope: _Scope, root_namespace: str) -> tuple[str, ...]:
    kind = resource.kind
    found: set[str]
    if kind == "VirtualService":
        found = _virtual_service(resource, scope)
    elif kind == "Gateway":
        found = _gateway_pods(resource, scope)
    elif kind == "Sidecar":
        found = {
            p.key
            for p in scope.pods
            if (sidecar := governing_sidecar(scope.snapshot, scope.nodes[p.key])) is not None
            and (sidecar.namespace, sidecar.name) == (resource.namespace, resource.name)
        }
    elif kind == "DestinationRule" and _selector(_spec(resource)):
        found = _by_selector(resource, scope, root_namespace)
    elif kind in ("DestinationRule", "ServiceEntry", "Service"):
        found = _seeing_hosts(resource, scope)
    elif kind in _SELECTOR_KINDS:
        found = _by_selector(resource, scope, root_namespace)
    elif kind == "Pod":
        found = {
            p.key
            for p in scope.pods
            if (p.namespace, p.name) == (resource.namespace, resource.name)
        }
    elif kind == "Deployment":
        found = {
            p.key
            for p in scope.pods
            if p.namespace == resource.namespace and p.workload_name == resource.name
        }
    elif kind in _MESHWIDE_LEGACY or resource.api_version.startswith(_MIXER_GROUP):
        found = {p.key for p in scope.pods}
    else:
        found = {p.key for p in scope.pods if p.namespace == resource.namespace}
    by_key = {p.key: p for p in scope.pods}
    return tuple(sorted(f"{by_key[k].name}.{by_key[k].namespace}" for k in found))


def _status(messages: Iterable[Message]) -> str:
    levels = {m.level for m in messages}
    if Level.ERROR in levels:
        return "error"
    if Level.WARNING in levels:
        return "warning"
    return "valid"


def _converted(resource: Resource, objects: Sequence[Resource], root_namespace: str) -> str:
    """The modern form of one legacy document (RBAC roles convert with their bindings and the
    mesh's Services, which the conversion reads)."""
    services = [r for r in objects if r.kind == "Service"]
    if resource.kind in ("Policy", "MeshPolicy"):
        inputs = [*services, resource]
    else:
        rbac = [r for r in objects if is_legacy(r) and r.kind not in ("Policy", "MeshPolicy")]
        inputs = [*services, *rbac]
    result = convert_legacy(inputs, root_namespace)
    documents = []
    for converted in result.resources:
        wire = converted.to_wire()
        wire.setdefault("spec", {})
        documents.append(wire)
    text = yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True, width=1000)
    notes = "".join(f"# {note}\n" for note in result.notes)
    return notes + text


def config_items(
    objects: Sequence[Resource],
    snapshot: MeshSnapshot,
    pods: Sequence[PodSpec],
    mesh: MeshConfig,
    *,
    kind: str | None = None,
    namespace: str | None = None,
) -> list[dict[str, Any]]:
    messages = analyze(objects, mesh=mesh)
    per_resource: dict[tuple[str, str, str], list[Message]] = {}
    for message in messages:
        if message.resource is not None:
            ref = message.resource
            per_resource.setdefault((ref.kind, ref.namespace, ref.name), []).append(message)
    scope = _Scope(snapshot, pods)
    root = mesh.root_namespace
    items = []
    for resource in sorted(objects, key=lambda r: r.key):
        if (kind is not None and resource.kind != kind) or (
            namespace is not None and resource.namespace != namespace
        ):
            continue
        found = per_resource.get(resource.key, [])
        mixer = resource.api_version.startswith(_MIXER_GROUP)
        legacy = is_legacy(resource) or mixer
        items.append(
            {
                "kind": resource.kind,
                "apiVersion": resource.api_version,
                "namespace": resource.namespace,
                "name": resource.name,
                "status": _status(found),
                "findings": [
                    {"code": m.code, "level": str(m.level), "message": m.text, "path": m.path}
                    for m in found
                ],
                "proxies": list(affected_proxies(resource, scope, root)),
                "legacy": legacy,
                "converted": (
                    _MIXER_NOTE
                    if mixer
                    else _converted(resource, objects, root)
                    if legacy
                    else None
                ),
                # A Secret's key material is never shown (sizes only).
                "yaml": yaml.safe_dump(
                    resource.redacted_wire()
                    if isinstance(resource, Secret)
                    else resource.to_wire(),
                    sort_keys=False,
                    width=1000,
                ),
            }
        )
    return items
