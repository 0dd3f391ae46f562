"""``mainsail authz check``'s table, from a config dump shaped like Envoy's admin output."""

from __future__ import annotations

from typing import Any

from envoy.config.listener.v3 import listener_pb2
from google.protobuf import json_format

from mainsail import naming
from mainsail.cli.authz import policy_rows
from tests.xds.cases import generate_case, load_case


def _dump(case: str) -> dict[str, Any]:
    listeners = []
    for resource in generate_case(load_case(case)).of_type(naming.LISTENER_TYPE).values():
        listener = listener_pb2.Listener()
        resource.body.Unpack(listener)
        # Envoy's admin config_dump keeps proto field names and expands typed configs.
        as_json = json_format.MessageToDict(listener, preserving_proto_field_name=True)
        listeners.append({"name": listener.name, "active_state": {"listener": as_json}})
    return {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                "dynamic_listeners": listeners,
            }
        ]
    }


def test_rows_per_action_like_istioctl() -> None:
    rows = policy_rows(_dump("sidecar_authz"))
    assert rows == [
        ["DENY", "deny-delete.default", "2"],
        # CUSTOM with an unknown provider: istiod's deny of what it would have checked.
        ["DENY", "ext.default", "1"],
        ["ALLOW", "allow-reads.default", "2"],
        ["ALLOW", "mesh-health.istio-system", "1"],
        ["LOG", "audit-admin.default", "1"],
    ]


def test_gateway_and_no_policies() -> None:
    assert policy_rows(_dump("gateway_authz")) == [
        ["DENY", "deny-range.istio-system", "1"],
        # On the TCP server the ALLOW's only rule (request principals) is dropped: deny all.
        ["ALLOW", "_anonymous_match_nothing_", "1"],
        ["ALLOW", "require-jwt.istio-system", "1"],
    ]
    assert policy_rows(_dump("default_routes")) == []


def test_registered_on_the_command_line() -> None:
    from mainsail.cli.main import build_parser

    args = build_parser().parse_args(["authz", "check", "server", "-n", "default", "-o", "json"])
    assert (args.pod, args.namespace, args.output) == ("server", "default", "json")
    assert callable(args.run)
