"""``mainsail analyze``'s engine: istioctl-analyze-like checks across resources.

Validation (``mainsail.config.validation``) looks at one object at a time; analysis looks at
them together, with the registry: routes to hosts and subsets that do not exist, subsets that
select no workload, VirtualServices bound to missing gateways or fighting over a host, routes
that can never match, Service ports whose protocol cannot be told, Gateways no workload runs.
It reads a ``MeshSnapshot`` (it sits above ``mainsail.snapshot`` in the layers) and is pure.

- ``messages``: the message types (Istio's IST codes where istioctl has the check, ``MSA``
  codes for Mainsail's own) and ``Message``.
- ``context``: ``AnalysisContext``, what every analyzer reads, built once.
- ``analyzers``: one module per analyzer, each exporting ``ANALYZER``.
- ``analyze``: ``ANALYZERS`` and ``analyze(resources, ...)``.
"""

from mainsail.analysis.analyze import ANALYZERS, analyze, worst
from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.messages import MESSAGE_TYPES, Level, Message, MessageType, ResourceRef

__all__ = [
    "ANALYZERS",
    "MESSAGE_TYPES",
    "Analyzer",
    "Level",
    "Message",
    "MessageType",
    "ResourceRef",
    "analyze",
    "worst",
]
