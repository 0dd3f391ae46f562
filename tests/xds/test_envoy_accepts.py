"""Every golden case's full ProxyConfig, served over ADS (delta) to one real Envoy 1.40.

The Envoy runs the node agent's bootstrap; the cases are pushed one after another and each must
be ACKed for every type (a NACK anywhere fails) and be what Envoy's ``/config_dump`` holds. Pod
addresses move to a random loopback /24 so the listeners bind without colliding with anything.
Envoy rejects fields its binary does not know (so every field we emit exists in both the
``xds-protos`` and the Envoy versions), and at the end its log must hold no deprecation warning
for a field we emit.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from mainsail import naming
from mainsail.ads import AdsServer, SyncState
from mainsail.snapshot.proxy import ProxyNode
from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.loopback import random_loopback_network
from mainsail.xds.resources import ProxyConfig

from ..ads.conftest import ads_server
from .any_secret_sds import any_secret_sds
from .cases import bootstrap_for, case_names, generate_case, load_case

# Per type: the config_dump sections holding it (warming counts: Envoy accepted it), and the key
# of the resource inside each entry.
_DUMP_SECTIONS = {
    naming.CLUSTER_TYPE: (("dynamic_active_clusters", "dynamic_warming_clusters"), "cluster"),
    naming.LISTENER_TYPE: (("dynamic_listeners",), None),
    naming.ROUTE_TYPE: (("dynamic_route_configs",), "route_config"),
    # static: the bootstrap's EDS clusters (the Mixer fluentd cluster) fed over ADS.
    naming.ENDPOINT_TYPE: (
        ("dynamic_endpoint_configs", "static_endpoint_configs"),
        "endpoint_config",
    ),
}


def _states(ads: AdsServer) -> dict[str, tuple[SyncState, str]]:
    statuses = ads.proxy_status()
    if len(statuses) != 1:
        return {}
    return {t.short_name: (t.state, t.error) for t in statuses[0].types}


async def _settled(ads: AdsServer, timeout: float = 15.0) -> dict[str, str]:
    """Until the proxy ACKed the latest generation for every type (all stages), or NACKed one."""
    async with asyncio.timeout(timeout):
        while not ads.proxy_status():  # wait_synced would pass before the proxy connects
            await asyncio.sleep(0.01)  # polling a condition
    synced = asyncio.ensure_future(ads.wait_synced(timeout=timeout))
    try:
        while not synced.done():
            nacked = {
                k: error[:300] for k, (s, error) in _states(ads).items() if s is SyncState.NACK
            }
            if nacked:
                return nacked
            await asyncio.sleep(0.01)  # polling a condition
        synced.result()
        return {}
    finally:
        synced.cancel()


def _names_in_dump(dump: dict[str, Any], type_url: str) -> set[str]:
    sections, inner = _DUMP_SECTIONS[type_url]
    names: set[str] = set()
    for config in dump.get("configs", []):
        for key, value in config.items():
            if key not in sections or not isinstance(value, list):
                continue
            for item in value:
                if type_url == naming.LISTENER_TYPE:
                    names.add(item["name"])
                elif type_url == naming.ENDPOINT_TYPE:
                    names.add(item[inner]["cluster_name"])
                else:
                    names.add(item[inner]["name"])
    return names


async def test_envoy_acks_every_golden_case(tmp_path: Path) -> None:
    network = random_loopback_network(24).rsplit(".", 1)[0]
    cases = [load_case(name) for name in case_names()]
    configs: dict[str, ProxyConfig] = {c.name: generate_case(c, network) for c in cases}
    current: list[ProxyConfig] = [configs[cases[0].name]]

    def generator(node: ProxyNode) -> ProxyConfig:
        return current[0]

    failures: dict[str, object] = {}
    # Not under tmp_path: pytest's paths can pass the 108-byte Unix socket limit.
    sds_socket = Path(f"/tmp/mainsail-golden-sds-{time.monotonic_ns()}.sock")
    async with (
        any_secret_sds(sds_socket),
        ads_server(generator, debounce_after=0.01) as (ads, xds_port),
    ):
        # Every secret a TLS cluster or listener names is served, so they all leave warming
        # (a cluster waiting for its secret never asks for its endpoints: no push completes).
        bootstrap = bootstrap_for(cases[0], xds_port, network, sds_socket=sds_socket)
        bootstrap["admin"]["address"]["socket_address"]["port_value"] = 0
        # A field this Envoy binary does not know (xds-protos newer than Envoy) is a NACK.
        strict = ("--reject-unknown-dynamic-fields",)
        async with EnvoyProcess(bootstrap, tmp_path / "envoy", extra_args=strict) as envoy:
            for case in cases:
                current[0] = configs[case.name]
                ads.config_changed(generator)
                await ads.push_now()
                nacked = await _settled(ads)
                if nacked:
                    failures[case.name] = nacked
                    break  # later NACK states would be this one's
                dump = json.loads(await envoy.admin("/config_dump?include_eds"))
                for type_url in _DUMP_SECTIONS:
                    want = set(current[0].of_type(type_url))
                    have = _names_in_dump(dump, type_url)
                    if want - have:
                        failures[f"{case.name} {type_url}"] = sorted(want - have)
            log = envoy.log_path.read_text(errors="replace")
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())
    deprecated = [line for line in log.splitlines() if "deprecated" in line.lower()]
    assert not deprecated, "\n".join(deprecated)
