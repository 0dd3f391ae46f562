"""The pod files the platform writes and the node agent watches: ``<state>/pods/<ns>.<pod>.json``.

Writes are atomic (temp file + rename) so a watcher never reads half a file.
"""

from __future__ import annotations

import os
from pathlib import Path

from mainsail.platform.layout import StateLayout
from mainsail.platform.pod import PodSpec


class PodStore:
    def __init__(self, layout: StateLayout) -> None:
        self._layout = layout

    def write(self, pod: PodSpec) -> Path:
        path = self._layout.pod_file(pod.namespace, pod.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = pod.to_json()
        if path.exists() and path.read_text() == text:
            return path  # unchanged: keep the mtime so watchers see no change
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        return path

    def remove(self, namespace: str, name: str) -> None:
        self._layout.pod_file(namespace, name).unlink(missing_ok=True)
        # The pod's CA token goes with it (the agent reads it only while the pod file exists).
        self._layout.pod_token_file(namespace, name).unlink(missing_ok=True)

    def list(self) -> tuple[PodSpec, ...]:
        directory = self._layout.pods_dir
        if not directory.is_dir():
            return ()
        return tuple(
            PodSpec.from_json(path.read_bytes()) for path in sorted(directory.glob("*.json"))
        )
