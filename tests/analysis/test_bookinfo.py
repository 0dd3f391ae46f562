"""BookInfo and its networking samples analyze clean, apart from what istioctl reports too."""

from pathlib import Path

import pytest

from mainsail.analysis import analyze
from mainsail.config.parse import load_paths

SAMPLES = Path(__file__).parents[2] / "src" / "mainsail" / "samples"
NETWORKING = SAMPLES / "bookinfo" / "networking"
BASE = (
    SAMPLES / "bookinfo" / "platform" / "bookinfo.yaml",
    SAMPLES / "ingress" / "istio-ingressgateway.yaml",
    NETWORKING / "bookinfo-gateway.yaml",
    NETWORKING / "destination-rule-all.yaml",
)


def _lines(*paths: Path) -> list[str]:
    parsed = load_paths(paths)
    assert parsed.ok, parsed.errors
    return [str(m) for m in analyze(parsed.resources, read_errors=parsed.errors)]


# Istio's destination-rule-all.yaml defines subsets for versions BookInfo does not deploy;
# istioctl reports the same IST0173 for each.
UNDEPLOYED_SUBSETS = [
    f"Error [IST0173] (DestinationRule default/{rule}) The Subset {subset} defined in the "
    "DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream)."
    for rule, subset in (
        ("details", "v2"),
        ("ratings", "v2"),
        ("ratings", "v2-mysql"),
        ("ratings", "v2-mysql-vm"),
    )
]


def test_bookinfo_with_gateway_and_rules() -> None:
    assert _lines(*BASE) == UNDEPLOYED_SUBSETS


@pytest.mark.parametrize(
    "sample", sorted(NETWORKING.glob("virtual-service-*.yaml")), ids=lambda p: p.stem
)
def test_each_routing_sample(sample: Path) -> None:
    extra = []
    if sample.stem == "virtual-service-all-v1":
        # Istio's analyzeSubset: the gateway's route to productpage has no subset while the
        # productpage VirtualService routes by subset (istioctl warns on BookInfo the same way).
        extra = [
            "Warning [IST0140] (VirtualService default/bookinfo) Subset in virtual service "
            "default/productpage has no effect on ingress gateway default/bookinfo requests"
        ]
    assert _lines(*BASE, sample) == UNDEPLOYED_SUBSETS + extra


def test_routing_samples_without_rules_name_unknown_subsets() -> None:
    found = _lines(*BASE[:3], NETWORKING / "virtual-service-all-v1.yaml")
    errors = [line for line in found if line.startswith("Error")]
    assert errors and all("[IST0101]" in line and "host+subset" in line for line in errors)


def test_without_the_ingress_workload_the_gateway_selects_nothing() -> None:
    found = _lines(BASE[0], *BASE[2:])
    assert (
        "Error [IST0101] (Gateway default/bookinfo-gateway) Referenced selector not found: "
        '"istio=ingressgateway"'
    ) in found
