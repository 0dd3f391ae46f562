"""``mainsail authz check <pod>``: which AuthorizationPolicies the pod's Envoy enforces, read from
its admin ``/config_dump`` like ``istioctl x authz check`` (what Envoy holds, not what we sent).

Every RBAC filter (HTTP and network) of every listener is read; a policy key
``ns[<ns>]-policy[<name>]-rule[<i>]`` names the policy and rule. Rows: ACTION (DENY, ALLOW, LOG,
CUSTOM, in that order), the policy as ``name.namespace``, and how many of its rules are present.
An RBAC filter with no policy at all (an ALLOW that nothing can match) shows as
``_anonymous_match_nothing_``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator, Mapping
from typing import Any

from mainsail.cli.common import add_home_argument, dump, home_of, print_table
from mainsail.cli.proxy_config import _admin_get, _configs, find_pod
from mainsail.platform.pod_store import PodStore

ANONYMOUS = "_anonymous_match_nothing_"
_HTTP_RBAC = "envoy.filters.http.rbac"
_TCP_RBAC = "envoy.filters.network.rbac"
_HCM = "envoy.filters.network.http_connection_manager"
_KEY = re.compile(r"ns\[(.+)\]-policy\[(.+)\]-rule\[(.+)\]")
_ORDER = ("DENY", "ALLOW", "LOG", "CUSTOM")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("authz", help="authorization as one proxy's Envoy enforces it")
    actions = parser.add_subparsers(dest="authz_command", metavar="SUBCOMMAND")
    check = actions.add_parser("check", help="AuthorizationPolicies applied to a pod")
    check.add_argument("pod", help="pod name (or <pod>.<namespace>, or a unique prefix)")
    check.add_argument("-n", "--namespace", default=None)
    check.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    add_home_argument(check)
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    pod = find_pod(PodStore(home_of(args).platform).list(), args.pod, args.namespace)
    rows = policy_rows(_admin_get(pod, "/config_dump"))
    if args.output == "table":
        print_table(["ACTION", "AuthorizationPolicy", "RULES"], rows)
    else:
        dump([{"action": a, "policy": p, "rules": int(r)} for a, p, r in rows], args.output)
    return 0


def _rbac_configs(dump_json: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every RBAC filter config of every active listener's filter chains."""
    listeners = _configs(dict(dump_json), "ListenersConfigDump").get("dynamic_listeners", [])
    for entry in listeners:
        listener = entry.get("active_state", {}).get("listener", {})
        chains = list(listener.get("filter_chains", []))
        if "default_filter_chain" in listener:
            chains.append(listener["default_filter_chain"])
        for chain in chains:
            for network in chain.get("filters", []):
                config = network.get("typed_config", {})
                if network.get("name") == _TCP_RBAC:
                    yield config
                elif network.get("name") == _HCM:
                    for http in config.get("http_filters", []):
                        if http.get("name") == _HTTP_RBAC:
                            yield http.get("typed_config", {})


def policy_rows(dump_json: Mapping[str, Any]) -> list[list[str]]:
    """``istioctl x authz check``'s table from an Envoy ``/config_dump`` (JSON)."""
    by_action: dict[str, set[str]] = {}
    rules_of: dict[str, set[str]] = {}

    def add(action: str, policy: str, rule: str) -> None:
        by_action.setdefault(action, set()).add(policy)
        rules_of.setdefault(policy, set()).add(rule)

    for config in _rbac_configs(dump_json):
        rules = config.get("rules") or {}
        action = str(rules.get("action", "ALLOW"))
        policies = rules.get("policies") or {}
        for key in policies:
            policy, rule = _policy_of(key)
            add(action, policy, rule)
        custom = [k for k in (config.get("shadow_rules") or {}).get("policies") or {}]
        for key in custom:
            if key.startswith("istio-ext-authz-"):
                policy, rule = _policy_of(key)
                add("CUSTOM", policy, rule)
        # An enforcing filter with no policy denies (ALLOW) or allows everything; a CUSTOM
        # filter's enforcing part is absent by design and is not shown.
        if not policies and "rules" in config:
            add(action, ANONYMOUS, "0")
    return [
        [action, policy, str(len(rules_of[policy]))]
        for action in _ORDER
        for policy in sorted(by_action.get(action, ()))
    ]


def _policy_of(key: str) -> tuple[str, str]:
    found = _KEY.search(key)
    if found is None:
        return key, "0"
    namespace, name, rule = found.groups()
    return f"{name}.{namespace}", rule
