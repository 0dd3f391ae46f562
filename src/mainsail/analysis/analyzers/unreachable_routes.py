"""virtualservice.UnreachableRuleAnalyzer: rules after a catch-all, and duplicate matches.

Routes are tried in order and no fallback is added (reference §3.3), so a rule without matches
catches everything after it, and a match identical to an earlier one (its ``name`` aside) never
wins. Istio's webhook reports these as warnings (IST0130) and infos (IST0131); the rule and
match numbering, and the reasons, are Istio's (``analyzeUnreachableHTTPRules``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import (
    VIRTUAL_SERVICE_INEFFECTIVE_MATCH,
    VIRTUAL_SERVICE_UNREACHABLE_RULE,
    Message,
)
from mainsail.config.base import WireModel
from mainsail.config.istio.virtual_service import VirtualService


@dataclass(frozen=True, slots=True, kw_only=True)
class _Rule:
    name: str  # ``"name"`` or ``#index``
    path: str
    matches: tuple[tuple[str, str], ...]  # (match name, routing-only JSON)


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
    for rule in rules:
        if not rule.matches:
            if catch_all is not None:
                yield unused(rule, "only the last rule can have no matches")
            catch_all = rule
            continue
        duplicates = 0
        for match_name, key in rule.matches:
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
        if duplicates == len(rule.matches):
            yield unused(rule, "all matches used by prior rules")


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for vs in ctx.of_kind(VirtualService):
        for rules in _rules(vs):
            yield from _unreachable(ctx, vs, rules)


ANALYZER = Analyzer(
    name="virtualservice.UnreachableRuleAnalyzer",
    description="Checks for virtual service rules that can never match",
    run=_analyze,
)
