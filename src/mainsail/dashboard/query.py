"""Query parameters of the dashboard's API: durations (``window``, ``range``, ``time_horizon``),
counts and booleans; a bad one is a ``BadParameterError`` naming it."""

from __future__ import annotations

import re
from collections.abc import Mapping

from mainsail.dashboard.errors import BadParameterError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
# Prometheus' duration syntax (what the book's ServiceGraph took): units required, combinable.
_PROM_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_PROM_UNITS = (365 * 86400.0, 7 * 86400.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)


def duration(
    query: Mapping[str, str], name: str, default: float, *, maximum: float | None = None
) -> float:
    """Seconds: ``30``, ``30s``, ``1m``, ``1.5h``; more than 0 and at most ``maximum``."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    match = _DURATION.match(raw.strip())
    if match is None:
        raise BadParameterError(
            f"query parameter {name!r}: {raw!r} is not a duration (seconds, or a number with "
            "a unit: 30s, 1m, 5m, 1h)"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise BadParameterError(f"query parameter {name!r}: {raw!r} must be more than 0")
    if maximum is not None and seconds > maximum:
        raise BadParameterError(
            f"query parameter {name!r}: {raw!r} is longer than the {maximum:g}s kept"
        )
    return seconds


def prometheus_duration(query: Mapping[str, str], name: str, default: float) -> float:
    """Prometheus' ``model.ParseDuration`` syntax (``5m``, ``1h30m``), as Istio's ServiceGraph
    read ``time_horizon``."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    match = _PROM_DURATION.match(raw.strip())
    if match is None or not any(match.groups()):
        raise BadParameterError(
            f"query parameter {name!r}: could not parse {raw!r} as a duration "
            "(a number and a unit: 15s, 1m, 5m, 1h30m)"
        )
    seconds = sum(int(v) * unit for v, unit in zip(match.groups(), _PROM_UNITS, strict=True) if v)
    if seconds <= 0:
        raise BadParameterError(f"query parameter {name!r}: {raw!r} must be more than 0")
    return seconds


def count(query: Mapping[str, str], name: str, default: int, *, maximum: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameterError(
            f"query parameter {name!r}: {raw!r} is not a whole number"
        ) from None
    if not 1 <= value <= maximum:
        raise BadParameterError(f"query parameter {name!r}: {value} is not between 1 and {maximum}")
    return value


def flag(query: Mapping[str, str], name: str) -> bool:
    """ServiceGraph's rule: only ``true`` turns it on."""
    raw = query.get(name, "")
    if raw not in ("", "true", "false"):
        raise BadParameterError(f"query parameter {name!r}: {raw!r} is not true or false")
    return raw == "true"
