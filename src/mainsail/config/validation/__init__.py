"""Istio's semantic validation rules (the istiod webhook's), per networking and security kind.

``validate(resource)`` returns the problems of one resource (field paths in wire form, without
file or document); ``validate_all(parse_result)`` validates every parsed resource and places
each problem in its file and document. Kinds without rules (the Kubernetes ones) yield nothing.
"""

from mainsail.config.validation.dispatch import validate, validate_all

__all__ = ["validate", "validate_all"]
