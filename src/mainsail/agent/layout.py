"""The node agent's files under the state directory (the platform writes ``pods/``)::

<state>/pods/<ns>.<pod>.json          pod files the agent watches (read only)
<state>/pods/<ns>.<pod>.token         the pod's token for the CA (0600, written by the platform)
<state>/proxies/<ns>.<pod>/bootstrap.json
<state>/proxies/<ns>.<pod>/envoy.pid  so a restarted agent adopts the running Envoy
<state>/proxies/<ns>.<pod>/sds.sock   the pod's SDS socket (Envoy's ``sds-grpc``)
<state>/logs/<ns>.<pod>.envoy.log     Envoy's --log-path (and its stdout/stderr)

A Unix socket path must fit in 108 bytes; when ``sds.sock`` under a deep state directory would
not, the socket goes to ``<tmp>/mainsail-<uid>/<hash of its long path>.sock`` instead (the same
path for the same pod and state directory, so a restarted agent and an adopted Envoy agree).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

# sun_path is 108 bytes with the NUL.
_MAX_SOCKET_PATH = 107


@dataclass(frozen=True, slots=True)
class AgentLayout:
    root: Path

    @property
    def pods_dir(self) -> Path:
        return self.root / "pods"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def proxy_dir(self, pod_key: str) -> Path:
        return self.root / "proxies" / pod_key

    def bootstrap_file(self, pod_key: str) -> Path:
        return self.proxy_dir(pod_key) / "bootstrap.json"

    def pid_file(self, pod_key: str) -> Path:
        return self.proxy_dir(pod_key) / "envoy.pid"

    def envoy_log(self, pod_key: str) -> Path:
        return self.logs_dir / f"{pod_key}.envoy.log"

    def token_file(self, pod_key: str) -> Path:
        return self.pods_dir / f"{pod_key}.token"

    def sds_socket(self, pod_key: str) -> Path:
        preferred = self.proxy_dir(pod_key).absolute() / "sds.sock"
        if len(str(preferred)) <= _MAX_SOCKET_PATH:
            return preferred
        digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:24]
        return Path(tempfile.gettempdir()) / f"mainsail-{os.getuid()}" / f"{digest}.sock"
