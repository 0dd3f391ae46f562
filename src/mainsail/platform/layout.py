"""Where the local platform keeps its state. The node agent reads the same ``pods/`` directory.

::

    <state>/
      allocations.json            pod address + private app ports, per pod (kept across restarts)
      pods/<ns>.<pod>.json        one PodSpec per running pod (written by the platform)
      pods/<ns>.<pod>.token       the pod's token for the mesh CA (0600; the node agent sends it)
      logs/<ns>.<pod>.<container>.log   app output
      logs/<ns>.<pod>.envoy.log   Envoy's log (written by the node agent)
      proxies/<ns>.<pod>/         the node agent's per-pod files (bootstrap.json, envoy.pid)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class StateLayout:
    root: Path

    @property
    def allocations_file(self) -> Path:
        return self.root / "allocations.json"

    @property
    def pods_dir(self) -> Path:
        return self.root / "pods"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def pod_file(self, namespace: str, name: str) -> Path:
        return self.pods_dir / f"{namespace}.{name}.json"

    def pod_token_file(self, namespace: str, name: str) -> Path:
        return self.pods_dir / f"{namespace}.{name}.token"

    def container_log(self, namespace: str, pod: str, container: str) -> Path:
        return self.logs_dir / f"{namespace}.{pod}.{container}.log"
