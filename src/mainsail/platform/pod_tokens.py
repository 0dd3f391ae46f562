"""Each pod's token for the mesh CA, as kubelet projects a service-account token into a pod:
``<state>/pods/<ns>.<pod>.token`` (mode 0600), minted with the CA's token-signing key
(``<home>/ca/token-signing-key.pem``, made by the control plane's CA when it starts).

The node agent sends it as ``authorization: Bearer`` with each CSR. Tokens live a day and are
re-minted at half their life (kubelet refreshes at 80 %; half leaves room for a stopped
launcher), so a long-running mesh never presents an expired one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from mainsail.ca.errors import CaStateError
from mainsail.ca.tokens import mint_pod_token
from mainsail.platform.errors import PlatformError
from mainsail.platform.layout import StateLayout
from mainsail.platform.pod import PodSpec

TOKEN_TTL_S = 24 * 3600.0


class PodTokens:
    def __init__(
        self,
        layout: StateLayout,
        signing_key: Path,
        *,
        ttl_s: float = TOKEN_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._layout = layout
        self._signing_key = signing_key
        self._ttl_s = ttl_s
        self._clock = clock

    def path(self, pod: PodSpec) -> Path:
        return self._layout.pod_token_file(pod.namespace, pod.name)

    def write(self, pod: PodSpec) -> Path:
        """Mint a token for the pod's namespace and service account; write it 0600, atomically."""
        try:
            token = mint_pod_token(
                self._signing_key,
                pod.namespace,
                pod.service_account,
                pod.name,
                self._ttl_s,
                issued_at=self._clock(),
            )
        except (CaStateError, ValueError) as error:
            raise PlatformError(f"pod {pod.key}: cannot mint its CA token: {error}") from error
        path = self.path(pod)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(token + "\n")
        os.replace(tmp, path)
        return path

    def refresh(self, pods: Iterable[PodSpec]) -> list[str]:
        """Re-mint the tokens past half their life (or missing); the keys of the pods refreshed."""
        refreshed: list[str] = []
        for pod in pods:
            try:
                age = self._clock() - self.path(pod).stat().st_mtime
            except FileNotFoundError:
                age = self._ttl_s
            if age >= self._ttl_s / 2:
                self.write(pod)
                refreshed.append(pod.key)
        return refreshed

    def remove(self, pod: PodSpec) -> None:
        self.path(pod).unlink(missing_ok=True)
