"""Grafana's dashboard model (schemaVersion 39) as plain JSON values, built by pure functions.

Only what the Istio dashboards use: rows, stat, time series and table panels on one Prometheus
data source, query and data-source variables. The data source is the ``DS_PROMETHEUS``
variable *and* the ``DS_PROMETHEUS`` import input: Grafana's Import page asks for a Prometheus
and writes its uid over every ``${DS_PROMETHEUS}``; file provisioning ignores ``__inputs``, so
there the same text names the variable, which defaults to the default Prometheus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]

SCHEMA_VERSION = 39
DATASOURCE_VARIABLE = "DS_PROMETHEUS"
DATASOURCE: Json = {"type": "prometheus", "uid": "${" + DATASOURCE_VARIABLE + "}"}
GRID_WIDTH = 24

# Client side of a call: a sidecar's outbound or a gateway (``source``), or an ambient
# waypoint; the server's sidecar is ``destination``. Istio's dashboards use the same split.
CLIENT = 'reporter=~"source|waypoint"'
SERVER = 'reporter="destination"'


@dataclass(frozen=True, slots=True, kw_only=True)
class Cell:
    """A panel before layout: its JSON (without ``id``/``gridPos``) and its size."""

    panel: Json
    width: int
    height: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """A collapsible row and the panels under it, laid out left to right."""

    title: str
    cells: tuple[Cell, ...]


def target(expr: str, *, legend: str = "", ref: str = "A", instant: bool = False) -> Json:
    query: Json = {
        "datasource": DATASOURCE,
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
        "refId": ref,
    }
    if instant:
        query["format"] = "table"
    return query


def _thresholds(*steps: tuple[str, float | None]) -> Json:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def stat(title: str, expr: str, *, unit: str, description: str = "", width: int = 6) -> Cell:
    # Success rates turn red under 95 %, like Istio's; volumes stay neutral.
    thresholds = (
        _thresholds(("red", None), ("yellow", 0.95), ("green", 1.0))
        if unit == "percentunit"
        else _thresholds(("blue", None))
    )
    panel: Json = {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target(expr)],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "decimals": 2,
                "thresholds": thresholds,
                "color": {"mode": "thresholds"},
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
        },
    }
    return Cell(panel=panel, width=width, height=4)


def timeseries(
    title: str,
    targets: Sequence[Json],
    *,
    unit: str,
    description: str = "",
    width: int = 12,
    height: int = 8,
) -> Cell:
    refs = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    panel: Json = {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [{**t, "refId": refs[i]} for i, t in enumerate(targets)],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "custom": {
                    "drawStyle": "line",
                    "lineWidth": 1,
                    "fillOpacity": 10,
                    "showPoints": "never",
                    "spanNulls": True,
                },
            },
            "overrides": [],
        },
        "options": {
            "legend": {
                "showLegend": True,
                "displayMode": "table",
                "placement": "bottom",
                "calcs": ["mean", "max", "lastNotNull"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }
    return Cell(panel=panel, width=width, height=height)


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    """One instant query of a table: its values become the column ``Value #<ref>``."""

    ref: str
    title: str
    unit: str
    expr: str


def _column_override(column: Column) -> Json:
    properties: list[Json] = [
        {"id": "displayName", "value": column.title},
        {"id": "unit", "value": column.unit},
        {"id": "decimals", "value": 2},
    ]
    if column.unit == "percentunit":
        properties += [
            {"id": "custom.cellOptions", "value": {"type": "color-background"}},
            {
                "id": "thresholds",
                "value": _thresholds(("red", None), ("yellow", 0.95), ("green", 1.0)),
            },
        ]
    return {
        "matcher": {"id": "byName", "options": f"Value #{column.ref}"},
        "properties": properties,
    }


def _label_column(label: str, title: str, links: Sequence[Json] = ()) -> Json:
    properties: list[Json] = [{"id": "displayName", "value": title}]
    if links:
        properties.append({"id": "links", "value": list(links)})
    return {"matcher": {"id": "byName", "options": label}, "properties": properties}


def table(
    title: str,
    columns: Sequence[Column],
    *,
    labels: Sequence[tuple[str, str, Sequence[Json]]],
    description: str = "",
) -> Cell:
    """One row per label set; ``labels`` are (label, column title, data links)."""
    panel: Json = {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target(c.expr, ref=c.ref, instant=True) for c in columns],
        # The instant queries share their label columns: ``merge`` joins them into one row.
        "transformations": [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {"Time": True}}},
        ],
        "fieldConfig": {
            "defaults": {"custom": {"align": "auto", "filterable": True}},
            "overrides": [_label_column(label, name, links) for label, name, links in labels]
            + [_column_override(c) for c in columns],
        },
        "options": {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
    }
    return Cell(panel=panel, width=GRID_WIDTH, height=10)


def query_variable(
    name: str,
    label: str,
    query: str,
    *,
    regex: str = "",
    default: str | None = None,
    include_all: bool = False,
) -> Json:
    """A variable filled by a Prometheus query (``label_values`` or ``query_result``)."""
    if include_all:
        current: Json = {"selected": True, "text": ["All"], "value": ["$__all"]}
    elif default is not None:
        current = {"selected": True, "text": default, "value": default}
    else:
        current = {}
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        # A plain string: the Prometheus variable query form every Grafana since 7 reads.
        "query": query,
        "definition": query,
        "regex": regex,
        "refresh": 2,  # on time range change: new workloads appear without a reload
        "sort": 1,
        "hide": 0,
        "multi": include_all,
        "includeAll": include_all,
        # Everything, as a regex, also what the label_values list left out.
        "allValue": ".*" if include_all else None,
        "current": current,
        "options": [],
    }


def datasource_variable() -> Json:
    return {
        "name": DATASOURCE_VARIABLE,
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "regex": "",
        "refresh": 1,
        "hide": 0,
        "current": {},
        "options": [],
    }


def _layout(sections: Sequence[Section]) -> list[Json]:
    panels: list[Json] = []
    y = 0
    next_id = 1
    for section in sections:
        panels.append(
            {
                "type": "row",
                "title": section.title,
                "id": next_id,
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        next_id += 1
        y += 1
        x = 0
        line_height = 0
        for cell in section.cells:
            if x + cell.width > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            grid = {"h": cell.height, "w": cell.width, "x": x, "y": y}
            panels.append({"id": next_id, "gridPos": grid, **cell.panel})
            next_id += 1
            x += cell.width
            line_height = max(line_height, cell.height)
        y += line_height
    return panels


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    variables: Sequence[Json],
    sections: Sequence[Section],
) -> Json:
    return {
        "__inputs": [
            {
                "name": DATASOURCE_VARIABLE,
                "label": "Prometheus",
                "description": "The Prometheus that scrapes the proxies' :15090/stats/prometheus",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
            {"type": "panel", "id": "stat", "name": "Stat", "version": ""},
            {"type": "panel", "id": "table", "name": "Table", "version": ""},
            {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
        ],
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["istio", "mainsail"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "10s",
        "time": {"from": "now-15m", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "annotations": {"list": []},
        # The other Mainsail dashboards, keeping the time range and the variables of the same
        # name (namespace), as Istio's links between its dashboards do.
        "links": [
            {
                "type": "dashboards",
                "tags": ["mainsail"],
                "title": "Mainsail dashboards",
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "targetBlank": False,
            }
        ],
        "templating": {"list": [datasource_variable(), *variables]},
        "panels": _layout(sections),
    }
