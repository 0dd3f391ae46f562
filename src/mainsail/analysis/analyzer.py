"""What an analyzer is: a named, pure function from the context to messages."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import Message


@dataclass(frozen=True, slots=True, kw_only=True)
class Analyzer:
    """``name`` is istioctl's analyzer name where one exists (``--analyzer`` selects by it)."""

    name: str
    description: str
    run: Callable[[AnalysisContext], Iterable[Message]]
