"""authentication.istio.io/v1alpha1 Policy/MeshPolicy → PeerAuthentication, RequestAuthentication
and a DENY AuthorizationPolicy, following Istio's migration tool
(istio-ecosystem/security-policy-migrate ``converter/convert.go``) rule for rule:

- every target (a Service short name in the policy's namespace) becomes one policy named
  ``<policy>-<service>`` whose selector is the Service's pod selector; its ports become the
  Service's target ports (a named or absent targetPort keeps the service port); a policy without
  targets stays namespace-wide (MeshPolicy: mesh-wide, in the root namespace), under its own name;
- mTLS: the first peer method decides: ``STRICT`` stays STRICT, PERMISSIVE or no peers at all
  become PERMISSIVE (the tool never emits DISABLE); with target ports the mode goes to
  ``portLevelMtls`` for each port instead of ``mtls``;
- origins become one RequestAuthentication (``jwtHeaders`` → ``fromHeaders[].name``,
  ``jwtParams`` → ``fromParams``, ``forwardOriginalToken: true`` as alpha forwarded the token);
  unless ``originIsOptional``, a DENY AuthorizationPolicy with ``notRequestPrincipals: ["*"]``
  requires a token, scoped to the target ports and, for a single issuer, one rule per trigger rule
  (``includedPaths`` → ``paths``, ``excludedPaths`` → ``notPaths``; exact literal, prefix ``p*``,
  suffix ``*s``; regex is not expressible);
- ``principalBinding`` and ``peerIsOptional`` have no modern equivalent and are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mainsail.config.istio.authorization_policy import AuthorizationPolicy
from mainsail.config.istio.peer_authentication import PeerAuthentication
from mainsail.config.istio.request_authentication import RequestAuthentication
from mainsail.config.legacy.authentication import (
    Jwt,
    MeshPolicy,
    Policy,
    PortSelector,
    StringMatch,
    TargetSelector,
    target_service_name,
)
from mainsail.config.legacy.notes import (
    ConversionNote,
    ServiceIndex,
    converted_metadata,
    source_of,
)

BETA = "security.istio.io/v1beta1"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthnConversion:
    peer_authentications: tuple[PeerAuthentication, ...] = ()
    request_authentications: tuple[RequestAuthentication, ...] = ()
    # The DENY policies that make a token mandatory (absent with originIsOptional).
    authorization_policies: tuple[AuthorizationPolicy, ...] = ()
    notes: tuple[ConversionNote, ...] = ()


@dataclass(frozen=True, slots=True)
class _Scope:
    name: str
    namespace: str
    selector: dict[str, str] | None
    ports: tuple[int, ...]
    comment: str


def convert_authentication_policy(
    policy: Policy | MeshPolicy, services: ServiceIndex, root_namespace: str
) -> AuthnConversion:
    """The modern policies equivalent to one legacy authentication policy."""
    notes: list[ConversionNote] = []
    source = source_of(policy)
    scopes = _scopes(policy, services, root_namespace, notes)
    mode = _mtls_mode(policy, notes)
    origin = f"converted from alpha authentication policy {_where(policy)}"
    peers = tuple(_peer_authentication(policy, s, mode, origin) for s in scopes)
    requests: list[RequestAuthentication] = []
    denials: list[AuthorizationPolicy] = []
    if policy.spec.origins:
        _check_jwt(policy, notes)
        for scope in scopes:
            requests.append(_request_authentication(policy, scope, origin))
            if not policy.spec.origin_is_optional:
                denials.append(_deny_without_token(policy, scope, origin))
    if policy.spec.principal_binding == "USE_ORIGIN":
        notes.append(
            ConversionNote(
                "warning",
                source,
                "principalBinding USE_ORIGIN is dropped: the source principal now always comes "
                "from mTLS and the request principal from the JWT",
            )
        )
    return AuthnConversion(
        peer_authentications=peers,
        request_authentications=tuple(requests),
        authorization_policies=tuple(denials),
        notes=tuple(notes),
    )


def _where(policy: Policy | MeshPolicy) -> str:
    return f"{policy.metadata.namespace or ''}/{policy.name}"


def _scopes(
    policy: Policy | MeshPolicy,
    services: ServiceIndex,
    root_namespace: str,
    notes: list[ConversionNote],
) -> list[_Scope]:
    if isinstance(policy, MeshPolicy):
        return [_Scope(policy.name, root_namespace, None, (), "mesh level policy")]
    if not policy.spec.targets:
        return [_Scope(policy.name, policy.namespace, None, (), "namespace level policy")]
    scopes: list[_Scope] = []
    seen: set[str] = set()
    for index, target in enumerate(policy.spec.targets):
        if target.name in seen:
            notes.append(
                ConversionNote(
                    "error",
                    source_of(policy),
                    f"spec.targets[{index}]: found duplicate target {target.name}",
                )
            )
        seen.add(target.name)
        scope = _target_scope(policy, index, target, services, notes)
        if scope is not None:
            scopes.append(scope)
    return scopes


def _target_scope(
    policy: Policy,
    index: int,
    target: TargetSelector,
    services: ServiceIndex,
    notes: list[ConversionNote],
) -> _Scope | None:
    short = target_service_name(target.name, policy.namespace) or target.name
    service = services.get((policy.namespace, short))
    where = f"spec.targets[{index}]"
    if service is None:
        notes.append(
            ConversionNote(
                "error",
                source_of(policy),
                f"{where}: could not find service {policy.namespace}.{short} "
                "(give its Service with -f, or run against the mesh)",
            )
        )
        return None
    ports: list[int] = []
    for p_index, port in enumerate(target.ports):
        found = _target_port(service.spec.ports, port)
        if found is None:
            notes.append(
                ConversionNote(
                    "error",
                    source_of(policy),
                    f"{where}.ports[{p_index}]: could not find port "
                    f"{port.number if port.number is not None else port.name} "
                    f"for service {policy.namespace}.{short}",
                )
            )
            return None
        ports.append(found)
    return _Scope(
        f"{policy.name}-{short}",
        policy.namespace,
        dict(service.spec.selector or {}),
        tuple(ports),
        f"service {short}",
    )


def _target_port(service_ports: Sequence[Any], wanted: PortSelector) -> int | None:
    for port in service_ports:
        by_name = wanted.name and port.name == wanted.name
        by_number = wanted.number and port.port == wanted.number
        if by_name or by_number:
            # As the tool: a named (or absent) targetPort keeps the service port.
            return port.target_port if isinstance(port.target_port, int) else int(port.port)
    return None


def _mtls_mode(policy: Policy | MeshPolicy, notes: list[ConversionNote]) -> str:
    if not policy.spec.peers:
        return "PERMISSIVE"
    first = policy.spec.peers[0]
    if first.jwt is not None:
        notes.append(
            ConversionNote(
                "error", source_of(policy), "spec.peers[0]: JWT peer method was never supported"
            )
        )
        return "PERMISSIVE"
    if first.mtls is None:
        notes.append(
            ConversionNote(
                "error", source_of(policy), "spec.peers[0]: neither mtls nor jwt peer method given"
            )
        )
        return "PERMISSIVE"
    return "STRICT" if first.mtls.effective_mode == "STRICT" else "PERMISSIVE"


def _selector(scope: _Scope) -> dict[str, Any]:
    return {"selector": {"matchLabels": scope.selector}} if scope.selector else {}


def _peer_authentication(
    policy: Policy | MeshPolicy, scope: _Scope, mode: str, origin: str
) -> PeerAuthentication:
    spec: dict[str, Any] = _selector(scope)
    if scope.ports:
        spec["portLevelMtls"] = {str(p): {"mode": mode} for p in scope.ports}
    else:
        spec["mtls"] = {"mode": mode}
    return PeerAuthentication.model_validate(
        {
            "apiVersion": BETA,
            "kind": "PeerAuthentication",
            "metadata": converted_metadata(
                policy, scope.name, scope.namespace, f"{origin}, {scope.comment}"
            ),
            "spec": spec,
        }
    )


def _jwt_rule(jwt: Jwt) -> dict[str, Any]:
    rule: dict[str, Any] = {"forwardOriginalToken": True}
    if jwt.issuer:
        rule["issuer"] = jwt.issuer
    if jwt.audiences:
        rule["audiences"] = list(jwt.audiences)
    if jwt.jwks_uri:
        rule["jwksUri"] = jwt.jwks_uri
    if jwt.jwks:
        rule["jwks"] = jwt.jwks
    if jwt.jwt_params:
        rule["fromParams"] = list(jwt.jwt_params)
    if jwt.jwt_headers:
        rule["fromHeaders"] = [{"name": h} for h in jwt.jwt_headers]
    return rule


def _request_authentication(
    policy: Policy | MeshPolicy, scope: _Scope, origin: str
) -> RequestAuthentication:
    rules = [_jwt_rule(o.jwt) for o in policy.spec.origins if o.jwt is not None]
    return RequestAuthentication.model_validate(
        {
            "apiVersion": BETA,
            "kind": "RequestAuthentication",
            "metadata": converted_metadata(
                policy, scope.name, scope.namespace, f"{origin}, {scope.comment}"
            ),
            "spec": {**_selector(scope), "jwtRules": rules},
        }
    )


def _check_jwt(policy: Policy | MeshPolicy, notes: list[ConversionNote]) -> None:
    origins = policy.spec.origins
    for o_index, origin in enumerate(origins):
        if origin.jwt is None or not origin.jwt.trigger_rules:
            continue
        where = f"spec.origins[{o_index}].jwt.triggerRules"
        if len(origins) > 1:
            notes.append(
                ConversionNote(
                    "error",
                    source_of(policy),
                    f"{where}: trigger rules with several JWT issuers cannot be converted "
                    "(the token is required on every path); convert by hand",
                )
            )
        for t_index, trigger in enumerate(origin.jwt.trigger_rules):
            for field, matches in (
                ("includedPaths", trigger.included_paths),
                ("excludedPaths", trigger.excluded_paths),
            ):
                for m_index, match in enumerate(matches):
                    if match.regex is not None:
                        notes.append(
                            ConversionNote(
                                "error",
                                source_of(policy),
                                f"{where}[{t_index}].{field}[{m_index}]: regex {match.regex!r} "
                                "has no AuthorizationPolicy equivalent (paths take exact, "
                                "prefix* and *suffix); the rule was converted without it",
                            )
                        )


def _paths(matches: Sequence[StringMatch]) -> list[str]:
    """The tool's ``extractPaths``: one path per matcher; any regex/empty one voids the list."""
    out: list[str] = []
    for match in matches:
        if match.exact:
            out.append(match.exact)
        elif match.prefix:
            out.append(match.prefix + "*")
        elif match.suffix:
            out.append("*" + match.suffix)
        else:
            return []
    return out


def _deny_rule(scope: _Scope, paths: list[str], not_paths: list[str]) -> dict[str, Any]:
    rule: dict[str, Any] = {"from": [{"source": {"notRequestPrincipals": ["*"]}}]}
    operation: dict[str, Any] = {}
    if paths:
        operation["paths"] = paths
    if not_paths:
        operation["notPaths"] = not_paths
    if scope.ports:
        operation["ports"] = [str(p) for p in scope.ports]
    if operation:
        rule["to"] = [{"operation": operation}]
    return rule


def _deny_without_token(
    policy: Policy | MeshPolicy, scope: _Scope, origin: str
) -> AuthorizationPolicy:
    origins = policy.spec.origins
    jwt = origins[0].jwt if len(origins) == 1 else None
    if jwt is not None and jwt.trigger_rules:
        rules = [
            _deny_rule(scope, _paths(t.included_paths), _paths(t.excluded_paths))
            for t in jwt.trigger_rules
        ]
    else:
        rules = [_deny_rule(scope, [], [])]
    return AuthorizationPolicy.model_validate(
        {
            "apiVersion": BETA,
            "kind": "AuthorizationPolicy",
            "metadata": converted_metadata(
                policy, scope.name, scope.namespace, f"{origin}, {scope.comment}"
            ),
            "spec": {**_selector(scope), "action": "DENY", "rules": rules},
        }
    )
