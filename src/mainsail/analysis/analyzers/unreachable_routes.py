"""virtualservice.UnreachableRuleAnalyzer: rules after a catch-all, and duplicate matches.

Routes are tried in order and no fallback is added (reference §3.3), so a rule without matches
catches everything after it, and a match identical to an earlier one (its ``name`` aside) never
wins. Istio's webhook reports these as warnings (IST0130) and infos (IST0131); the rule and
match numbering, and the reasons, are Istio's (``analyzeUnreachableHTTPRules``).

HTTP matches by URI prefix are also compared as Istio does (``coveredValidation``): a later
prefix match that starts with an earlier one's prefix, on the same port, with the same header,
query and withoutHeaders keys, and whose method, authority and values are covered (Istio's
string-prefix test on ``exact:``/``prefix:`` forms; no method means ``exact:GET``) is reported
IST0131 with Istio's ``match #0 of prefix /a/b`` / ``#0 of prefix /a on #0`` wording. Like
Istio, this reads only ``exact``/``prefix`` string matches (a regex one counts as empty).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import (
    VIRTUAL_SERVICE_INEFFECTIVE_MATCH,
    VIRTUAL_SERVICE_UNREACHABLE_RULE,
    Message,
)
from mainsail.config.base import WireModel
from mainsail.config.istio.virtual_service import HTTPMatchRequest, StringMatch, VirtualService


@dataclass(frozen=True, slots=True, kw_only=True)
class _Rule:
    name: str  # ``"name"`` or ``#index``
    path: str
    matches: tuple[tuple[str, str], ...]  # (match name, routing-only JSON)
    requests: tuple[HTTPMatchRequest, ...] = ()  # HTTP rules: the matches, for prefix overlap


@dataclass(frozen=True, slots=True, kw_only=True)
class _PrefixMatch:
    """Istio's ``OverlappingMatchValidationForHTTPRoute``."""

    rule: _Rule
    match_name: str
    prefix: str
    port: int
    method: str
    authority: str
    headers: Mapping[str, str]
    query_params: Mapping[str, str]
    without_headers: Mapping[str, str]


def _exact_or_prefix(match: StringMatch | None) -> str:
    """Istio's ``assignExactOrPrefix``."""
    if match is not None and match.exact:
        return "exact:" + match.exact
    if match is not None and match.prefix:
        return "prefix:" + match.prefix
    return ""


def _prefix_match(rule: _Rule, match_name: str, match: HTTPMatchRequest) -> _PrefixMatch | None:
    """Istio's ``genMatchHTTPRoutes``: only matches with a non-empty URI prefix."""
    if match.uri is None or not match.uri.prefix:
        return None
    return _PrefixMatch(
        rule=rule,
        match_name=match_name,
        prefix=match.uri.prefix,
        port=match.port or 0,
        method=_exact_or_prefix(match.method) or "exact:GET",
        authority=_exact_or_prefix(match.authority),
        headers={k: _exact_or_prefix(v) for k, v in match.headers.items()},
        query_params={k: _exact_or_prefix(v) for k, v in match.query_params.items()},
        without_headers={k: _exact_or_prefix(v) for k, v in match.without_headers.items()},
    )


def _values_covered(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    return len(a) == len(b) and all(
        key in b and (value == b[key] or value.startswith(b[key])) for key, value in a.items()
    )


def _covered(a: _PrefixMatch, b: _PrefixMatch) -> bool:
    """Istio's ``coveredValidation``: whether the earlier ``a`` covers the later ``b``."""
    return (
        b.prefix.startswith(a.prefix)
        and a.port == b.port
        and (a.method == b.method or a.method.startswith(b.method))
        and (a.authority == b.authority or a.authority.startswith(b.authority))
        and _values_covered(a.headers, b.headers)
        and _values_covered(a.query_params, b.query_params)
        and _values_covered(a.without_headers, b.without_headers)
    )


def _match_json(match: WireModel) -> str:
    wire = match.to_wire()
    wire.pop("name", None)
    return json.dumps(wire, sort_keys=True)


def _rules(vs: VirtualService) -> Iterator[tuple[_Rule, ...]]:
    yield tuple(
        _Rule(
            name=f'"{http.name}"' if http.name else f"#{i}",
            path=f"spec.http[{i}]",
            matches=tuple(
                (f'"{m.name}"' if m.name else f"#{j}", _match_json(m))
                for j, m in enumerate(http.match)
            ),
            requests=http.match,
        )
        for i, http in enumerate(vs.spec.http)
    )
    l4: tuple[tuple[str, list[Sequence[WireModel]]], ...] = (
        ("tcp", [r.match for r in vs.spec.tcp]),
        ("tls", [r.match for r in vs.spec.tls]),
    )
    for kind, route_matches in l4:
        yield tuple(
            _Rule(
                name=f"#{i}",
                path=f"spec.{kind}[{i}]",
                matches=tuple((f"#{j}", _match_json(m)) for j, m in enumerate(matches)),
            )
            for i, matches in enumerate(route_matches)
        )


def _unreachable(
    ctx: AnalysisContext, vs: VirtualService, rules: Sequence[_Rule]
) -> Iterator[Message]:
    def unused(rule: _Rule, reason: str) -> Message:
        return ctx.message(
            VIRTUAL_SERVICE_UNREACHABLE_RULE, rule.name, reason, resource=vs, path=rule.path
        )

    seen: dict[str, _Rule] = {}
    catch_all: _Rule | None = None
    prefixes: list[_PrefixMatch] = []
    for rule in rules:
        if not rule.matches:
            if catch_all is not None:
                yield unused(rule, "only the last rule can have no matches")
            catch_all = rule
            continue
        duplicates = 0
        for j, (match_name, key) in enumerate(rule.matches):
            if catch_all is not None:
                yield unused(rule, "route without matches defined before")
                continue
            earlier = seen.get(key)
            if earlier is not None:
                duplicates += 1
                yield ctx.message(
                    VIRTUAL_SERVICE_INEFFECTIVE_MATCH,
                    rule.name,
                    match_name,
                    earlier.name,
                    resource=vs,
                    path=rule.path,
                )
                continue
            seen[key] = rule
            if rule.requests:
                found = _prefix_match(rule, match_name, rule.requests[j])
                if found is not None:
                    prefixes.append(found)
        if duplicates == len(rule.matches):
            yield unused(rule, "all matches used by prior rules")
    for i, covering in enumerate(prefixes):
        for covered in prefixes[i + 1 :]:
            if covered.prefix == covering.prefix or not _covered(covering, covered):
                continue
            yield ctx.message(
                VIRTUAL_SERVICE_INEFFECTIVE_MATCH,
                covered.rule.name,
                f"{covered.match_name} of prefix {covered.prefix}",
                f"{covering.match_name} of prefix {covering.prefix} on {covering.rule.name}",
                resource=vs,
                path=covered.rule.path,
            )


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for vs in ctx.of_kind(VirtualService):
        for rules in _rules(vs):
            yield from _unreachable(ctx, vs, rules)


ANALYZER = Analyzer(
    name="virtualservice.UnreachableRuleAnalyzer",
    description="Checks for virtual service rules that can never match",
    run=_analyze,
)
