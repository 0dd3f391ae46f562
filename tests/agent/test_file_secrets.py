"""DestinationRule files over SDS (``file-cert:``/``file-root:``), as istio-agent serves them:
read when Envoy asks, pushed again when a file changes, a missing file logged and not answered."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mainsail import naming
from mainsail.agent import BootstrapOptions, build_bootstrap
from mainsail.agent.file_secrets import FileSecrets
from mainsail.agent.identity import WorkloadIdentity
from mainsail.agent.sds import SdsServer
from mainsail.agent.sds_stream import decode_secret
from mainsail.agent.svid import build_csr, generate_key, key_pem
from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.ports import free_port
from mainsail.testing.sds import mtls_cluster
from mainsail.testing.signer import InMemoryCa
from mainsail.testing.waiting import wait_for
from tests.agent.sds_envoy import secrets_in, workload

SPIFFE = "spiffe://cluster.local/ns/shop/sa/web"


async def write_client_files(directory: Path, ca: InMemoryCa) -> tuple[Path, Path, Path]:
    key = generate_key()
    chain = await ca.sign(build_csr(key, SPIFFE), 600, "t")
    cert, private, roots = directory / "cert.pem", directory / "key.pem", directory / "ca.pem"
    # Replace atomically, as a secret mount does, so a reader never sees half a file.
    for path, text in ((cert, chain[0]), (private, key_pem(key)), (roots, "".join(chain[1:]))):
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return cert, private, roots


@contextlib.asynccontextmanager
async def envoy_with_file_secrets(
    tmp_path: Path, cert_secret: str, root_secret: str
) -> AsyncIterator[EnvoyProcess]:
    identity = WorkloadIdentity(
        pod="shop.web-0", spiffe_id=SPIFFE, signer=InMemoryCa(), token=lambda: "t", ttl_s=600
    )
    socket = Path(f"/tmp/mainsail-test-sds-{time.monotonic_ns()}.sock")
    server = SdsServer(identity, socket)
    await server.start()
    pod = workload()
    config = build_bootstrap(
        pod,
        BootstrapOptions(xds_host="127.0.0.1", xds_port=free_port("127.0.0.1"), sds_socket=socket),
    )
    config["static_resources"]["clusters"].append(
        mtls_cluster("dr-files", pod.ip, 1, certificate=cert_secret, roots=root_secret)
    )
    envoy = EnvoyProcess(config, tmp_path / "envoy")
    try:
        await envoy.start()
        yield envoy
    finally:
        await envoy.stop()
        await server.stop()


async def test_file_cert_and_root_reach_envoy_and_a_replaced_file_is_pushed(
    tmp_path: Path,
) -> None:
    ca = InMemoryCa()
    cert, key, roots = await write_client_files(tmp_path, ca)
    cert_secret = naming.build_file_cert_secret(str(cert), str(key))
    root_secret = naming.build_file_root_secret(str(roots))
    async with envoy_with_file_secrets(tmp_path, cert_secret, root_secret) as envoy:

        async def serial(other_than: int | None = None) -> int | None:
            held: dict[str, Any] = secrets_in(await envoy.config_dump())
            if held.get(root_secret, {}).get("status") != "ACTIVE":
                return None
            found = held.get(cert_secret, {})
            if found.get("status") != "ACTIVE" or not found.get("serials"):
                return None
            value: int = found["serials"][0]
            return None if value == other_than else value

        first = await wait_for(serial, timeout=20, message="file secrets in Envoy")
        assert first == ca.issued[-1].serial_number
        await write_client_files(tmp_path, ca)
        second = await wait_for(lambda: serial(first), timeout=20, message="replaced file pushed")
        assert second == ca.issued[-1].serial_number


async def test_missing_file_is_logged_once_and_not_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    files = FileSecrets("shop.web-0")
    name = naming.build_file_root_secret(str(tmp_path / "absent.pem"))
    assert files.get(name) is None
    assert files.get(name) is None
    messages = [r.getMessage() for r in caplog.records if "absent.pem" in r.getMessage()]
    assert len(messages) == 1 and "shop.web-0" in messages[0] and "cannot read" in messages[0]


def test_system_roots_are_the_os_trust_bundle() -> None:
    files = FileSecrets("shop.web-0")
    # scripts/test.sh installs Debian's ca-certificates when the bundle is missing.
    secret = files.get(naming.build_file_root_secret("system"))
    assert secret is not None
    assert (
        b"BEGIN CERTIFICATE"
        in decode_secret(secret.resource).validation_context.trusted_ca.inline_bytes
    )


async def test_asking_before_files_exist_then_creating_them(tmp_path: Path) -> None:
    cert, key, roots = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert_secret = naming.build_file_cert_secret(str(cert), str(key))
    root_secret = naming.build_file_root_secret(str(roots))
    async with envoy_with_file_secrets(tmp_path, cert_secret, root_secret) as envoy:

        async def warming() -> bool:
            held = secrets_in(await envoy.config_dump())
            return held.get(cert_secret, {}).get("status") == "WARMING"

        # Envoy has asked and waits: nothing can be answered yet.
        await wait_for(warming, timeout=20, message="Envoy waiting for the file secret")
        ca = InMemoryCa()
        await write_client_files(tmp_path, ca)

        async def active() -> bool:
            held = secrets_in(await envoy.config_dump())
            return all(
                held.get(n, {}).get("status") == "ACTIVE" for n in (cert_secret, root_secret)
            )

        await wait_for(active, timeout=20, message="file secrets once the files exist")
