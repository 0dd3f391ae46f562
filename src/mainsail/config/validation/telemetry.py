"""Telemetry rules (istiod's ``ValidateTelemetry``: ``validateTelemetryMetrics``,
``validateTelemetryAccessLogging``, ``validateTelemetryTracing``, the CRD's CEL rules).

istiod compiles filter and tag expressions with cel-go; we have no CEL parser, so an expression
is checked for what breaks every CEL parse (empty, unbalanced brackets or quotes) and Envoy's
compilation is the final word (a bad expression is NACKed and reported).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from mainsail.config.errors import ConfigError, ErrorCode
from mainsail.config.istio.telemetry import ProviderRef, Telemetry
from mainsail.config.validation.rules import Findings
from mainsail.config.validation.security_rules import check_selector, check_target_refs

_PAIRS = {")": "(", "]": "[", "}": "{"}


def cel_problem(expression: str) -> str | None:
    """Why ``expression`` cannot be a CEL expression, or None when it may be one."""
    if not expression.strip():
        return "must be a non-empty CEL expression"
    stack: list[str] = []
    quote = ""
    escaped = False
    for char in expression:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([{":
            stack.append(char)
        elif char in _PAIRS and (not stack or stack.pop() != _PAIRS[char]):
            return f"is not a valid CEL expression: unbalanced {char!r}"
    if quote:
        return f"is not a valid CEL expression: unterminated string ({quote})"
    if stack:
        return f"is not a valid CEL expression: unclosed {stack[-1]!r}"
    return None


def _check_providers(f: Findings, path: str, providers: Sequence[ProviderRef]) -> None:
    for i, provider in enumerate(providers):
        if not provider.name:
            f.add(f"{path}.providers[{i}].name", "must not be empty", ErrorCode.TELEMETRY)


def _check_metrics(f: Findings, telemetry: Telemetry) -> None:
    for i, metrics in enumerate(telemetry.spec.metrics):
        path = f"spec.metrics[{i}]"
        _check_providers(f, path, metrics.providers)
        interval = metrics.reporting_interval
        if interval is not None and interval < timedelta(milliseconds=1):
            f.add(
                f"{path}.reportingInterval",
                f"reporting interval must be at least 1ms (got {interval})",
                ErrorCode.DURATION,
            )
        for j, override in enumerate(metrics.overrides):
            for name, tag in override.tag_overrides.items():
                where = f"{path}.overrides[{j}].tagOverrides[{name}]"
                if not name:
                    f.add(where, "tag names must not be empty", ErrorCode.TELEMETRY)
                if tag.effective_operation == "REMOVE":
                    if tag.value is not None:
                        f.add(
                            f"{where}.value",
                            "must not be set when operation is REMOVE",
                            ErrorCode.TELEMETRY,
                        )
                    continue
                if not tag.value:
                    f.add(
                        f"{where}.value",
                        "must be set when operation is UPSERT",
                        ErrorCode.TELEMETRY,
                    )
                elif (problem := cel_problem(tag.value)) is not None:
                    f.add(f"{where}.value", f"{tag.value!r} {problem}", ErrorCode.TELEMETRY)


def _check_access_logging(f: Findings, telemetry: Telemetry) -> None:
    for i, logging in enumerate(telemetry.spec.access_logging):
        path = f"spec.accessLogging[{i}]"
        _check_providers(f, path, logging.providers)
        if logging.filter is not None:
            expression = logging.filter.expression
            if (problem := cel_problem(expression)) is not None:
                f.add(f"{path}.filter.expression", f"{expression!r} {problem}", ErrorCode.TELEMETRY)


def _check_tracing(f: Findings, telemetry: Telemetry) -> None:
    tracing = telemetry.spec.tracing
    if len(tracing) > 1:
        f.warn("spec.tracing", "multiple tracing is not currently supported", ErrorCode.TELEMETRY)
    for i, entry in enumerate(tracing):
        path = f"spec.tracing[{i}]"
        _check_providers(f, path, entry.providers)
        if len(entry.providers) > 1:
            f.warn(
                f"{path}.providers",
                "multiple providers is not currently supported",
                ErrorCode.TELEMETRY,
            )
        percent = entry.random_sampling_percentage
        if percent is not None and not 0 <= percent <= 100:
            f.add(
                f"{path}.randomSamplingPercentage",
                f"must be in the range [0.0, 100.0] (got {percent})",
                ErrorCode.PERCENT,
            )


def validate_telemetry(telemetry: Telemetry) -> list[ConfigError]:
    f = Findings()
    spec = telemetry.spec
    check_selector(f, "spec.selector", spec.selector)
    check_target_refs(f, spec.selector, spec.target_ref, spec.target_refs)
    _check_metrics(f, telemetry)
    _check_access_logging(f, telemetry)
    _check_tracing(f, telemetry)
    return f.items
