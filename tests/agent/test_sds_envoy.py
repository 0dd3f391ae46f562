"""The pod's SDS server with a real Envoy: Envoy holds ``default`` and ``ROOTCA`` with the SVID's
serial, and a renewed SVID reaches it without a restart (same pid, new serial)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mainsail.agent.identity import WorkloadIdentity
from mainsail.agent.sds import SdsServer
from mainsail.agent.trust_bundle import TrustBundle
from mainsail.cli.proxy_config import secret_rows
from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.sds import ApiType, mtls_cluster
from mainsail.testing.signer import InMemoryCa
from mainsail.testing.waiting import wait_for
from tests.agent.sds_envoy import bootstrap_with_mtls_cluster, secrets_in, workload

SPIFFE = "spiffe://cluster.local/ns/shop/sa/web"


@contextlib.asynccontextmanager
async def sds_and_envoy(
    tmp_path: Path,
    ca: InMemoryCa,
    *,
    ttl_s: int = 300,
    api_type: ApiType = "GRPC",
    bundle: TrustBundle | None = None,
    extra_clusters: tuple[dict[str, Any], ...] = (),
) -> AsyncIterator[tuple[WorkloadIdentity, SdsServer, EnvoyProcess]]:
    identity = WorkloadIdentity(
        pod="shop.web-abcde-0",
        spiffe_id=SPIFFE,
        signer=ca,
        token=lambda: "token",
        ttl_s=ttl_s,
        retry_initial_s=0.2,
        retry_cap_s=1.0,
        bundle=bundle,
    )
    pod = workload()
    # Not under tmp_path: pytest's paths can pass the 108-byte Unix socket limit.
    socket = Path(f"/tmp/mainsail-test-sds-{time.monotonic_ns()}.sock")
    server = SdsServer(identity, socket)
    await server.start()
    task = asyncio.create_task(identity.run())
    config = bootstrap_with_mtls_cluster(pod, socket, api_type)
    config["static_resources"]["clusters"].extend(extra_clusters)
    envoy = EnvoyProcess(config, tmp_path / "envoy")
    try:
        await envoy.start()
        yield identity, server, envoy
    finally:
        await envoy.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.stop()


async def held_secrets(envoy: EnvoyProcess) -> dict[str, dict[str, Any]]:
    return secrets_in(await envoy.config_dump())


@pytest.mark.parametrize("api_type", ["GRPC", "DELTA_GRPC"])
async def test_envoy_holds_default_and_rootca_with_the_svid_serial(
    tmp_path: Path, api_type: ApiType
) -> None:
    ca = InMemoryCa(allowed={SPIFFE})
    async with sds_and_envoy(tmp_path, ca, api_type=api_type) as (identity, server, envoy):

        async def both_active() -> dict[str, dict[str, Any]] | None:
            held = await held_secrets(envoy)
            ok = all(held.get(n, {}).get("status") == "ACTIVE" for n in ("default", "ROOTCA"))
            return held if ok else None

        held = await wait_for(both_active, timeout=20, message="default and ROOTCA active")
        assert identity.svid is not None
        # istio-agent's default: leaf first, then the CA's roots.
        assert held["default"]["serials"] == [identity.svid.serial, ca.root.serial_number]
        assert held["ROOTCA"]["serials"] == [ca.root.serial_number]
        assert server.streams >= 1
        # What ``mainsail proxy-config secret`` prints from the same dump.
        dump = await envoy.config_dump()
        section = next(c for c in dump["configs"] if c["@type"].endswith("SecretsConfigDump"))
        rows = {r[0]: r for r in secret_rows(section, datetime.now(UTC))}
        assert rows["default"][1:5] == ["Cert Chain", "ACTIVE", "true", f"{identity.svid.serial:x}"]
        assert rows["ROOTCA"][1:5] == ["CA", "ACTIVE", "true", f"{ca.root.serial_number:x}"]
        assert rows["default"][5] == identity.svid.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
        # Envoy redacts the key in its dump: the admin API never shows it.
        default = next(s for s in section["dynamic_active_secrets"] if s["name"] == "default")
        key = default["secret"]["tls_certificate"]["private_key"]
        assert "PRIVATE KEY" not in json.dumps(key) + base64.b64decode(
            key.get("inline_bytes", "")
        ).decode(errors="replace")


async def test_renewal_is_pushed_without_restarting_envoy(tmp_path: Path) -> None:
    ca = InMemoryCa(allowed={SPIFFE})
    # A 4 s certificate renews at about 2 s: the schedule itself drives the push.
    async with sds_and_envoy(tmp_path, ca, ttl_s=4) as (identity, _server, envoy):
        first = await wait_for(
            lambda: _default_serial(envoy), timeout=20, message="first SVID in Envoy"
        )
        pid = envoy._process.pid if envoy._process else None
        second = await wait_for(
            lambda: _default_serial(envoy, other_than=first), timeout=20, message="renewed SVID"
        )
        assert second != first
        assert identity.svid is not None and identity.version >= 2
        assert envoy.running and envoy._process is not None and envoy._process.pid == pid


async def test_root_overlap_puts_both_roots_in_rootca(tmp_path: Path) -> None:
    ca = InMemoryCa(allowed={SPIFFE})
    async with sds_and_envoy(tmp_path, ca) as (identity, _server, envoy):
        await wait_for(lambda: _default_serial(envoy), timeout=20, message="first SVID")
        new_root = ca.add_root()
        await identity.renew()

        async def two_roots() -> bool:
            held = await held_secrets(envoy)
            return held.get("ROOTCA", {}).get("serials") == [
                ca.root.serial_number,
                new_root.serial_number,
            ]

        await wait_for(two_roots, timeout=20, message="ROOTCA with both roots")


async def _default_serial(envoy: EnvoyProcess, other_than: int | None = None) -> int | None:
    held = (await held_secrets(envoy)).get("default")
    if held is None or held["status"] != "ACTIVE" or not held["serials"]:
        return None
    serial: int = held["serials"][0]
    return None if serial == other_than else serial


async def test_a_root_seen_by_one_pod_reaches_every_pods_rootca(tmp_path: Path) -> None:
    """After a root rotation the first pod to renew brings the new bundle; a pod that has not
    renewed yet trusts the new root at once (its own certificate unchanged)."""
    ca = InMemoryCa(allowed={SPIFFE})
    bundle = TrustBundle()
    renewing = WorkloadIdentity(
        pod="shop.other-0", spiffe_id=SPIFFE, signer=ca, token=lambda: "t", ttl_s=300, bundle=bundle
    )
    async with sds_and_envoy(tmp_path, ca, bundle=bundle) as (identity, _server, envoy):
        first = await wait_for(lambda: _default_serial(envoy), timeout=20, message="first SVID")
        new_root = ca.add_root()
        await renewing.renew()

        async def two_roots() -> bool:
            held = await held_secrets(envoy)
            return held.get("ROOTCA", {}).get("serials") == [
                ca.root.serial_number,
                new_root.serial_number,
            ]

        await wait_for(two_roots, timeout=20, message="the new root in the other pod's ROOTCA")
        assert await _default_serial(envoy) == first and identity.version == 1


@pytest.mark.parametrize("api_type", ["GRPC", "DELTA_GRPC"])
async def test_a_secret_this_agent_does_not_serve_is_logged_and_breaks_nothing(
    tmp_path: Path, api_type: ApiType, caplog: pytest.LogCaptureFixture
) -> None:
    unknown = "kubernetes://no-such-credential"
    other = mtls_cluster("unknown-secret", "127.0.0.1", 1, api_type, certificate=unknown)
    ca = InMemoryCa(allowed={SPIFFE})
    async with sds_and_envoy(tmp_path, ca, api_type=api_type, extra_clusters=(other,)) as (
        identity,
        _server,
        envoy,
    ):
        await wait_for(lambda: _default_serial(envoy), timeout=20, message="default served")

        async def rootca_active() -> dict[str, dict[str, Any]] | None:
            held = await held_secrets(envoy)
            return held if held.get("ROOTCA", {}).get("status") == "ACTIVE" else None

        held = await wait_for(rootca_active, timeout=20, message="ROOTCA served")
        assert held.get(unknown, {}).get("status", "WARMING") == "WARMING"
        warnings = [r.getMessage() for r in caplog.records if unknown in r.getMessage()]
        assert warnings and all("does not serve" in w for w in warnings)
        assert "shop.web-abcde-0" in warnings[0]
        assert envoy.running and identity.svid is not None
