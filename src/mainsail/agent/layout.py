"""The node agent's files under the state directory (the platform writes ``pods/``)::

<state>/pods/<ns>.<pod>.json          pod files the agent watches (read only)
<state>/proxies/<ns>.<pod>/bootstrap.json
<state>/proxies/<ns>.<pod>/envoy.pid  so a restarted agent adopts the running Envoy
<state>/logs/<ns>.<pod>.envoy.log     Envoy's --log-path (and its stdout/stderr)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
