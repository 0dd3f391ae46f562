"""Pick the validator for a resource's kind and place its errors in their documents."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mainsail.config.base import Resource
from mainsail.config.errors import ConfigError
from mainsail.config.mixer.models import MIXER_KINDS
from mainsail.config.parse import ParseResult

Validator = Callable[[Any], list[ConfigError]]


def _validators() -> Mapping[str, Validator]:
    from mainsail.config.validation.destination_rule import validate_destination_rule
    from mainsail.config.validation.gateway import validate_gateway
    from mainsail.config.validation.legacy_security import (
        validate_authentication_policy,
        validate_rbac_config,
        validate_service_role,
        validate_service_role_binding,
    )
    from mainsail.config.validation.mixer import validate_mixer
    from mainsail.config.validation.secret import validate_secret
    from mainsail.config.validation.security import (
        validate_authorization_policy,
        validate_peer_authentication,
        validate_request_authentication,
    )
    from mainsail.config.validation.service_entry import validate_service_entry
    from mainsail.config.validation.sidecar import validate_sidecar
    from mainsail.config.validation.telemetry import validate_telemetry
    from mainsail.config.validation.virtual_service import validate_virtual_service
    from mainsail.config.validation.workloads import (
        validate_workload_entry,
        validate_workload_group,
    )

    return {
        "VirtualService": validate_virtual_service,
        "DestinationRule": validate_destination_rule,
        "Gateway": validate_gateway,
        "ServiceEntry": validate_service_entry,
        "Sidecar": validate_sidecar,
        "WorkloadEntry": validate_workload_entry,
        "WorkloadGroup": validate_workload_group,
        "PeerAuthentication": validate_peer_authentication,
        "RequestAuthentication": validate_request_authentication,
        "AuthorizationPolicy": validate_authorization_policy,
        "Policy": validate_authentication_policy,
        "MeshPolicy": validate_authentication_policy,
        "RbacConfig": validate_rbac_config,
        "ClusterRbacConfig": validate_rbac_config,
        "ServiceRole": validate_service_role,
        "ServiceRoleBinding": validate_service_role_binding,
        **dict.fromkeys(MIXER_KINDS, validate_mixer),
        "Telemetry": validate_telemetry,
        "Secret": validate_secret,
    }


def validate(resource: Resource) -> tuple[ConfigError, ...]:
    """Istio's semantic rules for one resource; empty when it is valid."""
    check = _validators().get(resource.kind)
    if check is None:
        return ()
    return tuple(
        e.located(
            file=None,
            document=None,
            kind=resource.kind,
            namespace=resource.namespace,
            name=resource.name,
        )
        for e in check(resource)
    )


def validate_all(parsed: ParseResult) -> tuple[ConfigError, ...]:
    """Validate every resource of ``parsed``; errors carry their file and document."""
    found: list[ConfigError] = []
    origins = parsed.origins or (None,) * len(parsed.resources)
    for resource, origin in zip(parsed.resources, origins, strict=True):
        for error in validate(resource):
            if origin is not None:
                error = error.located(
                    file=origin.file, document=origin.document, kind=None, namespace=None, name=None
                )
            found.append(error)
    return tuple(found)
