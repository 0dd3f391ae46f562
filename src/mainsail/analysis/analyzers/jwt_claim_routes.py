"""virtualservice.JWTClaimRouteAnalyzer: routing on JWT claims where no token is validated (IST0149).

Istio's semantics: a VirtualService whose HTTP matches use a ``@request.auth.claims…`` header (or
withoutHeaders) key is checked on each Gateway it is bound to (``mesh`` and missing Gateways
skipped; names resolve against its namespace): every workload the Gateway selects needs a
RequestAuthentication of ``istio-system`` or of its own namespace whose selector (none selects
all) matches it, else the claims are never set. The first claim key found is named. Offline,
Deployments' pod templates count as pods.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import JWT_CLAIM_BASED_ROUTING_WITHOUT_REQUEST_AUTHN, Message
from mainsail.config.istio.gateway import Gateway
from mainsail.config.istio.request_authentication import RequestAuthentication
from mainsail.config.istio.virtual_service import VirtualService
from mainsail.registry.model import labels_match

_CLAIM_PREFIX = "@request.auth.claims"
# istioctl looks in istio-system (constants.IstioSystemNamespace), not the mesh's root namespace.
_ISTIO_SYSTEM = "istio-system"


def claim_key(vs: VirtualService) -> str:
    """Istio's ``routeBasedOnJWTClaimKey``: the first claim header key, or empty."""
    for http in vs.spec.http:
        for match in http.match:
            for key in (*match.headers, *match.without_headers):
                if key.startswith(_CLAIM_PREFIX):
                    return key
    return ""


def _gateway_name(name: str, namespace: str) -> tuple[str, str]:
    space, sep, short = name.partition("/")
    return (space, short) if sep else (namespace, name)


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    gateways = {(g.namespace, g.name): g for g in ctx.of_kind(Gateway)}
    authns = ctx.of_kind(RequestAuthentication)
    for vs in ctx.of_kind(VirtualService):
        key = claim_key(vs)
        if not key:
            continue
        for name in vs.spec.gateways:
            if name == "mesh":
                continue
            namespace, short = _gateway_name(name, vs.namespace)
            gateway = gateways.get((namespace, short))
            if gateway is None:
                continue  # virtualservice.GatewayAnalyzer reports it
            for pod in ctx.selected_workloads(gateway.spec.selector):
                validated = any(
                    ra.namespace in (_ISTIO_SYSTEM, pod.namespace)
                    and labels_match(
                        ra.spec.selector.match_labels if ra.spec.selector else {}, pod.labels
                    )
                    for ra in authns
                )
                if not validated:
                    yield ctx.message(
                        JWT_CLAIM_BASED_ROUTING_WITHOUT_REQUEST_AUTHN,
                        key,
                        f"{namespace}/{short}",
                        pod.name,
                        resource=vs,
                    )


ANALYZER = Analyzer(
    name="virtualservice.JWTClaimRouteAnalyzer",
    description="Checks the VirtualService using JWT claim based routing has corresponding "
    "RequestAuthentication",
    run=_analyze,
)
