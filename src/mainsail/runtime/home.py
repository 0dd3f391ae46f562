"""Where a Mainsail installation keeps its state (``--state-dir``, ``$MAINSAIL_HOME``, or
``~/.local/state/mainsail``), and the control plane's address file in it.

::

    <home>/
      controlplane.json     {"pid", "api", "xds"} written by the running control plane
      config/store.yaml     every applied object (the control plane's store)
      launcher.json         {"pid"} of the running ``mainsail up``/``demo``
      ...                   the local platform's files (see ``mainsail.platform.layout``)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mainsail.platform.layout import StateLayout


def default_home() -> Path:
    given = os.environ.get("MAINSAIL_HOME")
    if given:
        return Path(given)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mainsail"


@dataclass(frozen=True, slots=True)
class Home:
    root: Path

    @property
    def platform(self) -> StateLayout:
        return StateLayout(self.root)

    @property
    def control_plane_file(self) -> Path:
        return self.root / "controlplane.json"

    @property
    def launcher_file(self) -> Path:
        return self.root / "launcher.json"

    @property
    def store_file(self) -> Path:
        return self.root / "config" / "store.yaml"

    @property
    def control_plane_log(self) -> Path:
        return self.root / "logs" / "control-plane.log"

    @property
    def agent_log(self) -> Path:
        return self.root / "logs" / "node-agent.log"

    def read_json(self, path: Path) -> dict[str, Any] | None:
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def write_json(self, path: Path, value: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(value, indent=2), encoding="utf-8")
        os.replace(tmp, path)
