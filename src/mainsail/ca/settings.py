"""The CA's settings, read once by the control plane's composition root."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class CaSettings:
    # ``<home>/ca``: keys, roots, issued log, deny list (see ``layout``).
    state_dir: Path
    # MeshConfig ``trustDomain``.
    trust_domain: str = "cluster.local"
    # Local mode's default SVID life (the book's hour; istiod's DEFAULT_WORKLOAD_CERT_TTL is
    # 24 h) and the clamp on what a caller may ask for (istiod's MAX_WORKLOAD_CERT_TTL).
    workload_ttl: timedelta = timedelta(hours=1)
    max_workload_ttl: timedelta = timedelta(days=90)
    # A self-signed root's life (istiod's CITADEL_SELF_SIGNED_CA_CERT_TTL).
    root_ttl: timedelta = timedelta(days=3650)
    # A plugged-in CA in Istio's ``cacerts`` layout; None: ``<home>/ca/cacerts`` if it holds a
    # ``ca-cert.pem``, else the self-signed root.
    cacerts_dir: Path | None = None
    # How long a rotated-out root stays in the bundle unless the rotation says otherwise: twice
    # the default SVID life, so SVIDs it signed are renewed under the new root before it goes.
    root_overlap: timedelta = timedelta(hours=2)
    # A self-signed root is replaced once less than this share of its life remains (istiod's
    # CITADEL_SELF_SIGNED_ROOT_CERT_GRACE_PERIOD_PERCENTILE, 20 %); the old root stays trusted
    # until it expires. 0 disables it.
    root_grace_ratio: float = 0.2
