"""AuthorizationPolicy → Envoy RBAC filters (istiod's ``authz/builder/builder.go``).

One RBAC filter per action, in istiod's order: CUSTOM (a shadow RBAC that tags matches in
dynamic metadata, then ``ext_authz`` per provider), then AUDIT (action LOG), DENY, ALLOW. CUSTOM
filters go in front of ``jwt_authn`` and the others behind it (the caller places them; see
``xds.inbound_policy``). Policy keys are ``ns[<ns>]-policy[<name>]-rule[<i>]`` (CUSTOM ones
prefixed ``istio-ext-authz-<provider>-``); a policy without rules matches nothing (an ALLOW
``spec: {}`` denies everything); ``istio.io/dry-run`` policies go to ``shadow_rules``.

Reads: AuthorizationPolicy (selected for the workload by the caller), MeshConfig
(``trustDomain``, ``trustDomainAliases``, ``extensionProviders``), services (provider clusters).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from envoy.config.listener.v3 import listener_components_pb2
from envoy.config.rbac.v3 import rbac_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2 as tcp_rbac
from google.protobuf import any_pb2
from google.protobuf.message import Message

from mainsail.config.istio.authorization_policy import AuthorizationPolicy
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.xds.authz_custom import (
    BAD_CUSTOM_SUFFIX,
    EXT_AUTHZ_PREFIX,
    EXT_AUTHZ_SHADOW_PREFIX,
    HTTP_RBAC_FILTER,
    TCP_RBAC_FILTER,
    ExtAuthz,
    ProviderError,
    resolve_provider,
)
from mainsail.xds.authz_matchers import permission_any, principal_any
from mainsail.xds.authz_rules import RbacAction, TrustDomains, build_rbac_policy

log = logging.getLogger(__name__)

HTTP_EXT_AUTHZ_FILTER = "envoy.filters.http.ext_authz"
TCP_EXT_AUTHZ_FILTER = "envoy.filters.network.ext_authz"
TCP_STAT_PREFIX = "tcp."
DRY_RUN_ALLOW_PREFIX = "istio_dry_run_allow_"
DRY_RUN_DENY_PREFIX = "istio_dry_run_deny_"

_ACTIONS: dict[str, RbacAction] = {"AUDIT": "LOG", "DENY": "DENY", "ALLOW": "ALLOW"}
_RBAC_ACTION = {
    "ALLOW": rbac_pb2.RBAC.ALLOW,
    "DENY": rbac_pb2.RBAC.DENY,
    "LOG": rbac_pb2.RBAC.LOG,
}


def _never() -> rbac_pb2.Policy:
    """A policy nothing matches: what a policy without rules stands for."""
    return rbac_pb2.Policy(
        permissions=[rbac_pb2.Permission(not_rule=permission_any())],
        principals=[rbac_pb2.Principal(not_id=principal_any())],
    )


def policy_key(namespace: str, name: str, rule: int, provider: str | None = None) -> str:
    prefix = f"{EXT_AUTHZ_PREFIX}-{provider}-" if provider is not None else ""
    return f"{prefix}ns[{namespace}]-policy[{name}]-rule[{rule}]"


@dataclass(slots=True)
class _Built:
    """The enforced and the dry-run RBAC of one action (None when no policy went there)."""

    action: RbacAction
    rules: rbac_pb2.RBAC | None = None
    shadow: rbac_pb2.RBAC | None = None

    def target(self, dry_run: bool) -> rbac_pb2.RBAC:
        if dry_run:
            if self.shadow is None:
                self.shadow = rbac_pb2.RBAC(action=_RBAC_ACTION[self.action])
            return self.shadow
        if self.rules is None:
            self.rules = rbac_pb2.RBAC(action=_RBAC_ACTION[self.action])
        return self.rules


def _fill(
    built: _Built,
    policy: AuthorizationPolicy,
    *,
    for_tcp: bool,
    trust: TrustDomains,
    provider: str | None = None,
) -> None:
    target = built.target(policy.dry_run)
    for index, rule in enumerate(policy.spec.rules):
        key = policy_key(policy.namespace, policy.name, index, provider)
        generated = build_rbac_policy(
            rule, policy.namespace, for_tcp=for_tcp, action=built.action, trust=trust
        )
        if generated is not None:
            target.policies[key].CopyFrom(generated)
    if not policy.spec.rules:
        target.policies[policy_key(policy.namespace, policy.name, 0, provider)].CopyFrom(_never())


def trust_domains(snapshot: MeshSnapshot) -> TrustDomains:
    mesh = snapshot.mesh
    return TrustDomains(domains=(mesh.trust_domain, *mesh.trust_domain_aliases))


def _by_action(policies: Sequence[AuthorizationPolicy], action: str) -> list[AuthorizationPolicy]:
    return [p for p in policies if p.spec.effective_action == action]


def _shadow_prefix(shadow: rbac_pb2.RBAC | None) -> str:
    # istiod reads the action of a missing shadow RBAC as ALLOW (proto default), so every
    # filter without dry-run policies still carries the allow prefix: kept for identical config.
    if shadow is None or shadow.action == rbac_pb2.RBAC.ALLOW:
        return DRY_RUN_ALLOW_PREFIX
    if shadow.action == rbac_pb2.RBAC.DENY:
        return DRY_RUN_DENY_PREFIX
    return ""


def _typed(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message, deterministic=True)  # RBAC policies are a map: stable bytes
    return packed


def _http(name: str, message: Message) -> hcm_pb2.HttpFilter:
    return hcm_pb2.HttpFilter(name=name, typed_config=_typed(message))


def _tcp(name: str, message: Message) -> listener_components_pb2.Filter:
    return listener_components_pb2.Filter(name=name, typed_config=_typed(message))


def _http_rbac(
    rules: rbac_pb2.RBAC | None, shadow: rbac_pb2.RBAC | None, shadow_prefix: str
) -> http_rbac.RBAC:
    config = http_rbac.RBAC(shadow_rules_stat_prefix=shadow_prefix)
    if rules is not None:
        config.rules.SetInParent()  # an ALLOW with no policies must stay present: deny all
        config.rules.MergeFrom(rules)
    if shadow is not None:
        config.shadow_rules.SetInParent()
        config.shadow_rules.MergeFrom(shadow)
    return config


def _tcp_rbac(
    rules: rbac_pb2.RBAC | None, shadow: rbac_pb2.RBAC | None, shadow_prefix: str
) -> tcp_rbac.RBAC:
    config = tcp_rbac.RBAC(stat_prefix=TCP_STAT_PREFIX, shadow_rules_stat_prefix=shadow_prefix)
    if rules is not None:
        config.rules.SetInParent()  # an ALLOW with no policies must stay present: deny all
        config.rules.MergeFrom(rules)
    if shadow is not None:
        config.shadow_rules.SetInParent()
        config.shadow_rules.MergeFrom(shadow)
    return config


def _enforcing(
    policies: Sequence[AuthorizationPolicy], for_tcp: bool, trust: TrustDomains
) -> list[_Built]:
    """AUDIT, DENY, ALLOW: each action with at least one policy."""
    result = []
    for action, rbac_action in _ACTIONS.items():
        selected = _by_action(policies, action)
        if not selected:
            continue
        built = _Built(action=rbac_action)
        for policy in selected:
            _fill(built, policy, for_tcp=for_tcp, trust=trust)
        result.append(built)
    return result


def http_rbac_filters(
    snapshot: MeshSnapshot, policies: Sequence[AuthorizationPolicy]
) -> list[hcm_pb2.HttpFilter]:
    """AUDIT, DENY and ALLOW RBAC filters for an HTTP chain (behind ``jwt_authn``)."""
    return [
        _http(HTTP_RBAC_FILTER, _http_rbac(b.rules, b.shadow, _shadow_prefix(b.shadow)))
        for b in _enforcing(policies, False, trust_domains(snapshot))
    ]


def tcp_rbac_filters(
    snapshot: MeshSnapshot, policies: Sequence[AuthorizationPolicy]
) -> list[listener_components_pb2.Filter]:
    """CUSTOM, then AUDIT, DENY and ALLOW network RBAC filters for a TCP chain."""
    trust = trust_domains(snapshot)
    filters = _custom(snapshot, policies, for_tcp=True, trust=trust).tcp
    filters += [
        _tcp(TCP_RBAC_FILTER, _tcp_rbac(b.rules, b.shadow, _shadow_prefix(b.shadow)))
        for b in _enforcing(policies, True, trust)
    ]
    return filters


def http_custom_filters(
    snapshot: MeshSnapshot, policies: Sequence[AuthorizationPolicy]
) -> list[hcm_pb2.HttpFilter]:
    """CUSTOM: per provider a shadow RBAC then its ext_authz (in front of ``jwt_authn``)."""
    return _custom(snapshot, policies, for_tcp=False, trust=trust_domains(snapshot)).http


@dataclass(slots=True)
class _CustomFilters:
    http: list[hcm_pb2.HttpFilter] = field(default_factory=list)
    tcp: list[listener_components_pb2.Filter] = field(default_factory=list)


def _bad_custom(rules: rbac_pb2.RBAC | None) -> rbac_pb2.RBAC:
    """Deny what a CUSTOM policy with an unusable provider would have sent to it."""
    deny = rbac_pb2.RBAC(action=rbac_pb2.RBAC.DENY)
    if rules is not None:
        for key, policy in rules.policies.items():
            deny.policies[key + BAD_CUSTOM_SUFFIX].CopyFrom(policy)
    return deny


def _custom(
    snapshot: MeshSnapshot,
    policies: Sequence[AuthorizationPolicy],
    *,
    for_tcp: bool,
    trust: TrustDomains,
) -> _CustomFilters:
    result = _CustomFilters()
    by_provider: dict[str, _Built] = {}
    for policy in _by_action(policies, "CUSTOM"):
        provider = policy.spec.provider.name if policy.spec.provider is not None else None
        name = provider or ""
        built = by_provider.setdefault(name, _Built(action="DENY"))
        built.target(False)  # istiod always has the provider's enforce set, even if empty
        _fill(built, policy, for_tcp=for_tcp, trust=trust, provider=name)
    names = sorted(by_provider)
    if len(names) > 1:
        # istiod without PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS: deny, cannot pick one.
        log.error(
            "AuthorizationPolicy CUSTOM: multiple providers per workload are not supported, "
            "found %d providers: %s; denying the requests they cover",
            len(names),
            names,
        )
        for name in names:
            _bad(result, by_provider[name].rules, for_tcp)
        return result
    for name in names:
        built = by_provider[name]
        try:
            ext = resolve_provider(name, snapshot.mesh.extension_providers, snapshot.services)
        except ProviderError as error:
            log.error(
                "AuthorizationPolicy CUSTOM provider %r: %s; denying the requests it covers",
                name,
                error,
            )
            _bad(result, built.rules, for_tcp)
            continue
        _add_custom(result, built, ext, for_tcp)
    return result


def _bad(result: _CustomFilters, rules: rbac_pb2.RBAC | None, for_tcp: bool) -> None:
    if for_tcp:
        result.tcp.append(_tcp(TCP_RBAC_FILTER, _tcp_rbac(_bad_custom(rules), None, "")))
    else:
        result.http.append(_http(HTTP_RBAC_FILTER, _http_rbac(_bad_custom(rules), None, "")))


def _add_custom(result: _CustomFilters, built: _Built, ext: ExtAuthz, for_tcp: bool) -> None:
    # The RBAC only evaluates (shadow) and records the matched policy in dynamic metadata; the
    # ext_authz behind it runs when that policy is one of this provider's. Dry-run policies
    # go to ``rules`` with the same prefix (istiod's known limitation: they still call out).
    dry = built.shadow if built.shadow is not None and built.shadow.policies else None
    if for_tcp:
        if ext.tcp is None:
            return  # an HTTP provider says nothing about TCP chains
        result.tcp.append(
            _tcp(TCP_RBAC_FILTER, _tcp_rbac(dry, built.rules, EXT_AUTHZ_SHADOW_PREFIX))
        )
        result.tcp.append(_tcp(TCP_EXT_AUTHZ_FILTER, ext.tcp))
        return
    result.http.append(
        _http(HTTP_RBAC_FILTER, _http_rbac(dry, built.rules, EXT_AUTHZ_SHADOW_PREFIX))
    )
    result.http.append(_http(HTTP_EXT_AUTHZ_FILTER, ext.http))
