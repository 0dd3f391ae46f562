"""The environment an app container runs with on the local platform.

Besides the container's own ``env``, the app learns where it lives (``POD_IP``, ``PORT``) and how
to reach the mesh: ``HTTP_PROXY`` is the sidecar's HTTP-proxy listener, and each TCP service it may
call is announced the Kubernetes way (``<SVC>_SERVICE_HOST``/``_PORT``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mainsail.platform.pod import ContainerSpec, PodSpec

# Inherited proxy settings would send the app's traffic around the sidecar.
_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceEnv:
    """Where the app reaches one TCP service port (``reviews`` → ``REVIEWS_SERVICE_HOST``)."""

    name: str
    host: str
    port: int
    port_name: str | None = None


def build_app_env(
    pod: PodSpec,
    container: ContainerSpec,
    *,
    base_env: Mapping[str, str],
    services: Iterable[ServiceEnv] = (),
) -> dict[str, str]:
    env = {k: v for k, v in base_env.items() if k.lower() not in _PROXY_VARIABLES}
    python_dir = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join(p for p in (python_dir, base_env.get("PATH", "")) if p)
    for service in services:
        env.update(_service_variables(service))
    env.update(container.env)
    env.update(pod.env)
    if container.ports:
        env["PORT"] = str(pod.app_ports[container.ports[0].container_port])
    for port in container.ports:
        env[f"PORT_{port.container_port}"] = str(pod.app_ports[port.container_port])
    proxy = f"http://{pod.ip}:{pod.proxy_ports.outbound}"
    env.update(
        {
            "INSTANCE_IP": pod.ip,
            "POD_IP": pod.ip,
            "POD_NAME": pod.name,
            "POD_NAMESPACE": pod.namespace,
            "SERVICE_ACCOUNT": pod.service_account,
            "HTTP_PROXY": proxy,
            "http_proxy": proxy,
            "NO_PROXY": "",
            "no_proxy": "",
        }
    )
    return env


def _service_variables(service: ServiceEnv) -> dict[str, str]:
    prefix = service.name.upper().replace("-", "_").replace(".", "_")
    variables = {
        f"{prefix}_SERVICE_HOST": service.host,
        f"{prefix}_SERVICE_PORT": str(service.port),
    }
    if service.port_name:
        port_name = service.port_name.upper().replace("-", "_")
        variables[f"{prefix}_SERVICE_PORT_{port_name}"] = str(service.port)
    return variables
