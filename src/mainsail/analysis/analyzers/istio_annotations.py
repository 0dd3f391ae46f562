"""annotations.K8sAnalyzer: Istio annotations that are unknown, misplaced or deprecated.

As istioctl: on Services, Pods and Deployments (their own metadata, not a Deployment's pod
template), an annotation whose prefix ends in ``istio.io`` (or ``kubernetes.io/ingress.class``)
must be one of Istio's (IST0108), be put on a kind it applies to (IST0107, listing the kinds
comma-joined) and is reported when deprecated (IST0135), except ``sidecar.istio.io/inject`` when
the object also has the label of that name. Istio also checks Namespaces, which Mainsail's config
has no kind for, and the values of injection annotations, which Mainsail does not inject.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.annotation_defs import ANNOTATIONS, ANY, DEPRECATION_EXTRA
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import (
    DEPRECATED_ANNOTATION,
    MISPLACED_ANNOTATION,
    UNKNOWN_ANNOTATION,
    Message,
    quoted,
)
from mainsail.config.base import Resource
from mainsail.config.kube.service import Service
from mainsail.config.kube.workloads import Deployment, Pod

_SIDECAR_INJECT = "sidecar.istio.io/inject"


def is_istio_annotation(name: str) -> bool:
    return name == "kubernetes.io/ingress.class" or name.split("/")[0].endswith("istio.io")


def _check(ctx: AnalysisContext, resource: Resource) -> Iterator[Message]:
    meta = resource.metadata
    for name in meta.annotations:
        if not is_istio_annotation(name):
            continue
        path = f"metadata.annotations.{name}"
        known = ANNOTATIONS.get(name)
        if known is None:
            yield ctx.message(UNKNOWN_ANNOTATION, name, resource=resource, path=path)
            continue
        if known.deprecated and not (name == _SIDECAR_INJECT and _SIDECAR_INJECT in meta.labels):
            extra = DEPRECATION_EXTRA.get(name, "")
            yield ctx.message(
                DEPRECATED_ANNOTATION, quoted(name), extra, resource=resource, path=path
            )
        if ANY in known.resources or resource.kind in known.resources:
            continue
        kinds = ", ".join(known.resources)
        yield ctx.message(MISPLACED_ANNOTATION, name, kinds, resource=resource, path=path)


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for model in (Service, Pod, Deployment):
        for resource in ctx.of_kind(model):
            yield from _check(ctx, resource)


ANALYZER = Analyzer(
    name="annotations.K8sAnalyzer",
    description="Checks for misplaced and invalid Istio annotations in Kubernetes resources",
    run=_analyze,
)
