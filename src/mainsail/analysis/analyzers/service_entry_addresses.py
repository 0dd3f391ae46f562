"""serviceentry.Analyzer: a ServiceEntry without addresses for TCP ports (IST0134).

Istio's semantics: without ``addresses`` (and without DNS auto-allocation, which Mainsail's mesh
config has no proxy metadata for), every port whose protocol is empty or ``TCP`` is reported:
plain TCP is routed by destination address, so the entry needs one.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import SERVICE_ENTRY_ADDRESSES_REQUIRED, Message
from mainsail.config.istio.service_entry import ServiceEntry


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for entry in ctx.of_kind(ServiceEntry):
        if entry.spec.addresses:
            continue
        for index, port in enumerate(entry.spec.ports):
            if port.protocol in (None, "", "TCP"):
                yield ctx.message(
                    SERVICE_ENTRY_ADDRESSES_REQUIRED, resource=entry, path=f"spec.ports[{index}]"
                )


ANALYZER = Analyzer(
    name="serviceentry.Analyzer",
    description="Checks the validity of ServiceEntry",
    run=_analyze,
)
