"""Messages several Istio networking kinds share: selectors, ports, percentages, one-of checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import Field
from pydantic_core import PydanticCustomError

from mainsail.config.base import WireModel
from mainsail.config.wire_types import Double, UInt32

LabelValue = Annotated[str, Field(max_length=63)]


def set_fields(model: WireModel, names: tuple[str, ...]) -> list[str]:
    """The wire names of the fields among ``names`` that carry a value."""
    fields = type(model).model_fields
    return [fields[n].alias or n for n in names if getattr(model, n) is not None]


def check_at_most_one(model: WireModel, *names: str) -> None:
    """Enforce a proto ``oneof`` the way the CRD schema does: zero or one member set."""
    chosen = set_fields(model, names)
    if len(chosen) > 1:
        raise PydanticCustomError(
            "one_of", "only one of {fields} may be set", {"fields": ", ".join(chosen)}
        )


class PortSelector(WireModel):
    """A port on the destination service (``number`` only since v1alpha3's ``name`` was removed)."""

    number: UInt32 | None = None


class Percent(WireModel):
    """A percentage in [0.0, 100.0]."""

    value: Double | None = None


class WorkloadSelector(WireModel):
    """networking.istio.io WorkloadSelector: pods whose labels include all of ``labels``."""

    labels: Mapping[str, LabelValue] = Field(default_factory=dict, max_length=256)


class MatchLabelsSelector(WireModel):
    """istio.type.v1beta1.WorkloadSelector (DestinationRule and security kinds): ``matchLabels``."""

    match_labels: Mapping[str, LabelValue] = Field(default_factory=dict, max_length=4096)


class PolicyTargetReference(WireModel):
    """istio.type.v1beta1.PolicyTargetReference: a Gateway-API resource a policy attaches to.

    ``namespace`` must be empty (same namespace as the policy); the semantic validator says so.
    """

    group: (
        Annotated[
            str,
            Field(
                max_length=253,
                pattern=r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
            ),
        ]
        | None
    ) = None
    kind: Annotated[
        str, Field(min_length=1, max_length=63, pattern=r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
    ]
    name: Annotated[str, Field(min_length=1, max_length=253)]
    namespace: str | None = None
