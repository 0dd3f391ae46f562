"""A pod's identity side: its SVID kept fresh (``WorkloadIdentity``) and the SDS server its
Envoy reads it from. Started before the pod's Envoy, stopped after it.

The CSR is authenticated with the pod's token, which the platform writes next to the pod file
(``pods/<ns>.<pod>.token``, as kubelet projects a service-account token into the pod); it is
read again for every CSR, so a refreshed token is picked up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from mainsail import naming
from mainsail.agent.errors import SvidError
from mainsail.agent.identity import CertificateSigner, Clock, Sleep, WorkloadIdentity
from mainsail.agent.layout import AgentLayout
from mainsail.agent.sds import SdsServer
from mainsail.agent.settings import NodeAgentSettings
from mainsail.agent.trust_bundle import TrustBundle
from mainsail.agent.workload import ProxyWorkload

log = logging.getLogger(__name__)


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="ascii").strip()
    except OSError as error:
        raise SvidError(
            f"pod token {path}: cannot read ({error.strerror or error}); the platform writes "
            "it with the pod file"
        ) from error
    if not token:
        raise SvidError(f"pod token {path}: empty")
    return token


class PodIdentity:
    def __init__(
        self,
        workload: ProxyWorkload,
        *,
        settings: NodeAgentSettings,
        layout: AgentLayout,
        signer: CertificateSigner,
        clock: Clock,
        sleep: Sleep,
        bundle: TrustBundle | None = None,
    ) -> None:
        key = workload.key
        token_file = layout.token_file(key)
        self.identity = WorkloadIdentity(
            pod=key,
            spiffe_id=naming.build_spiffe_id(
                settings.trust_domain, workload.namespace, workload.service_account
            ),
            signer=signer,
            token=lambda: read_token(token_file),
            ttl_s=settings.cert_ttl_s,
            retry_initial_s=settings.csr_retry_initial_s,
            retry_cap_s=settings.csr_retry_cap_s,
            clock=clock,
            sleep=sleep,
            bundle=bundle,
        )
        self.sds = SdsServer(self.identity, layout.sds_socket(key))
        self._task: asyncio.Task[None] | None = None

    @property
    def socket(self) -> Path:
        return self.sds.socket

    async def start(self) -> None:
        await self.sds.start()
        self._task = asyncio.create_task(self.identity.run(), name=f"svid {self.identity.pod}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.sds.stop()
