"""Regenerate the dashboard JSON files beside this module from their Python definitions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from mainsail.samples.addons.grafana import mesh, service, workload
from mainsail.samples.addons.grafana._model import Json

BUILDERS: dict[str, Callable[[], Json]] = {
    "mesh.json": mesh.build,
    "service.json": service.build,
    "workload.json": workload.build,
}


def render(dashboard: Json) -> str:
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    here = Path(__file__).parent
    for name, build in BUILDERS.items():
        (here / name).write_text(render(build()))
        print(here / name)


if __name__ == "__main__":
    main()
