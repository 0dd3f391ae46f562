"""apps/v1 Deployment and core/v1 Pod.

On the local platform a container's ``command`` and ``args`` name the local process to run
(``image`` is optional and ignored), so a Deployment reads the same here and in Kubernetes.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ConfigDict, Field

from mainsail.config.base import ObjectMeta, Resource, WireModel


class EnvVar(WireModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    value: str = ""


class ContainerPort(WireModel):
    model_config = ConfigDict(extra="ignore")

    container_port: int = Field(ge=1, le=65535)
    name: str | None = None
    protocol: str = "TCP"


class Container(WireModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    image: str | None = None
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[EnvVar, ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    working_dir: str | None = None


class PodSpec(WireModel):
    model_config = ConfigDict(extra="ignore")

    service_account_name: str | None = None
    containers: tuple[Container, ...] = ()


class PodTemplate(WireModel):
    model_config = ConfigDict(extra="ignore")

    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec = Field(default_factory=PodSpec)


class LabelSelector(WireModel):
    model_config = ConfigDict(extra="ignore")

    match_labels: Mapping[str, str] = Field(default_factory=dict)


class DeploymentSpec(WireModel):
    model_config = ConfigDict(extra="ignore")

    replicas: int = Field(default=1, ge=0)
    selector: LabelSelector | None = None
    template: PodTemplate


class Deployment(Resource):
    spec: DeploymentSpec


class PodStatus(WireModel):
    model_config = ConfigDict(extra="ignore")

    pod_ip: str | None = Field(default=None, alias="podIP")
    phase: str | None = None


class Pod(Resource):
    spec: PodSpec = Field(default_factory=PodSpec)
    status: PodStatus = Field(default_factory=PodStatus)
