"""The DestinationRules a translated piece may read for a host: a ``TranslationCache`` key part.

Service clusters, endpoints and HTTP-proxy vhosts were keyed on a token of *all*
DestinationRules, so a rule for one host (or for a host no service has) re-translated every
service of the mesh. A piece reads rules only through ``snapshot.destination_rules
.destination_rule_for(snapshot, proxy namespace, host, service namespace, labels)``, which looks
at the exact-host and matching wildcard rules of three namespaces: the proxy's, the service's
and the root namespace. Those rules (by identity: the store keeps an unchanged rule's instance)
are the key part; the proxy's labels, which pick among workload-selected rules, are in the
caller's key. A vhost reads the rules of every destination host of its VirtualService's HTTP
routes and of its own service (``xds.http_routes.destination_hash_policies``).
"""

from __future__ import annotations

from collections.abc import Hashable

from mainsail.config.istio.virtual_service import VirtualService
from mainsail.registry.model import MeshService
from mainsail.snapshot.hosts import host_matches, resolve_short_name
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.xds.translation_cache import Same, TranslationCache


class RuleInputs:
    """Per snapshot (memoized per proxy namespace and host)."""

    def __init__(self, snapshot: MeshSnapshot, cache: TranslationCache | None = None) -> None:
        self._snapshot = snapshot
        self._cache = cache
        self._hosts: dict[tuple[str, str], Hashable] = {}

    def for_host(self, proxy_namespace: str, hostname: str) -> Hashable:
        """Every rule ``destination_rule_for`` may consult for ``hostname`` from a proxy of
        ``proxy_namespace`` (whether or not it applies in the end)."""
        key = (proxy_namespace, hostname)
        found = self._hosts.get(key)
        if found is None:
            snapshot = self._snapshot
            service = snapshot.services.get(hostname)
            namespaces = dict.fromkeys(
                (
                    proxy_namespace,
                    service.namespace if service is not None else "",
                    snapshot.mesh.root_namespace,
                )
            )
            found = self._hosts[key] = tuple(
                Same(rule)
                for namespace in namespaces
                for rule in (
                    *snapshot.rules_by_host.get((namespace, hostname), ()),
                    *(
                        rule
                        for pattern, rule in snapshot.wildcard_rules.get(namespace, ())
                        if host_matches(pattern, hostname)
                    ),
                )
            )
        return found

    def for_vhost(
        self, proxy_namespace: str, service: MeshService, vs: VirtualService | None
    ) -> Hashable:
        """The rules of a service's vhost: its own host's and, under a VirtualService, those of
        every host its HTTP routes send to."""
        hosts = {service.hostname}
        if vs is not None:
            domain = self._snapshot.mesh.domain
            if self._cache is None:
                hosts.update(_destination_hosts(vs, domain))
            else:  # the same for an unchanged VirtualService in every snapshot
                hosts.update(
                    self._cache.get(
                        ("destination hosts", Same(vs), domain),
                        lambda: _destination_hosts(vs, domain),
                    )
                )
        return tuple(self.for_host(proxy_namespace, host) for host in sorted(hosts))


def _destination_hosts(vs: VirtualService, domain: str) -> frozenset[str]:
    return frozenset(
        resolve_short_name(destination.destination.host, vs.namespace, domain)
        for http in vs.spec.http
        for destination in http.route
    )
