"""The dashboard's errors, each mapped to one HTTP status in ``dashboard.app``::

DashboardError
├── BadParameterError    400: a query parameter is malformed (the message names it)
├── NotFoundError        404: no such service, workload, proxy or trace
└── UnavailableError     503: something the answer needs is missing (Graphviz, a proxy)
"""

from __future__ import annotations


class DashboardError(Exception):
    status = 500


class BadParameterError(DashboardError):
    status = 400


class NotFoundError(DashboardError):
    status = 404


class UnavailableError(DashboardError):
    status = 503
