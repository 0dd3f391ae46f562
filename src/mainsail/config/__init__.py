"""Galley: Istio and Kubernetes-style config as typed frozen models, parsed and validated.

- ``mainsail.config.istio``: one module per networking.istio.io kind (models).
- ``mainsail.config.kube``: the Kubernetes kinds the local platform reads.
- ``mainsail.config.schema``: the one table of kinds (``KINDS``, ``lookup``).
- ``mainsail.config.parse``: YAML → ``ParseResult`` (``parse_documents``, ``load_paths``).
- ``mainsail.config.validation``: Istio's semantic rules (``validate``, ``validate_all``).
- ``mainsail.config.errors``: ``ConfigError`` and its codes; the error tree is in its docstring.
"""

from mainsail.config.errors import ConfigError, ConfigRejected, ErrorCode
from mainsail.config.parse import DocumentOrigin, ParseResult, load_paths, parse_documents
from mainsail.config.schema import KINDS, KindSchema, lookup
from mainsail.config.validation import validate, validate_all

__all__ = [
    "KINDS",
    "ConfigError",
    "ConfigRejected",
    "DocumentOrigin",
    "ErrorCode",
    "KindSchema",
    "ParseResult",
    "load_paths",
    "lookup",
    "parse_documents",
    "validate",
    "validate_all",
]
