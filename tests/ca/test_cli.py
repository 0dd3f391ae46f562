"""``mainsail ca`` against a real ``mainsail control-plane`` process: the CSR API is served on
the control plane's gRPC port, the bundle and administration on its HTTP API."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mainsail.api.client import ApiClient
from mainsail.runtime.home import Home
from mainsail.testing.processes import process_gone
from mainsail.testing.waiting import wait_for_sync
from tests.cli.conftest import Cli

from .conftest import certs, verify_chain, verify_with


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    home = Home(tmp_path_factory.mktemp("ca-control-plane"))
    log = home.root / "control-plane.log"
    command = [
        sys.executable, "-m", "mainsail", "control-plane", "--state-dir", str(home.root),
        "--xds-port", "0", "--api-port", "0", "--workload-cert-ttl", "30m",
    ]  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    try:

        def answering() -> bool:
            assert process.poll() is None, log.read_text()
            info = home.read_json(home.control_plane_file) or {}
            if info.get("pid") != process.pid:
                return False
            ApiClient(str(info["api"]), timeout=2).healthz()
            return True

        wait_for_sync(answering, timeout=30, message="the control plane answering")
        yield home
    finally:
        process.terminate()
        process.wait(30)
    assert process_gone(process.pid)


def split_issue_output(text: str) -> tuple[str, list[str]]:
    """``ca issue`` prints the key, then the chain: leaf, any intermediates, the bundle."""
    key, _, rest = text.partition("-----END PRIVATE KEY-----\n")
    return key + "-----END PRIVATE KEY-----\n", [
        p + "-----END CERTIFICATE-----\n" for p in rest.split("-----END CERTIFICATE-----\n")[:-1]
    ]


def test_ca_lifecycle_through_the_cli(home: Home, tmp_path: Path) -> None:
    cli = Cli(home.root)

    shown = cli("ca", "root")
    assert shown.code == 0, shown.err
    assert "SHA-256 FINGERPRINT" in shown.out and "signing" in shown.out
    pem = cli("ca", "root", "-o", "pem")
    (first_root,) = certs(pem.out)
    assert first_root.subject.rfc4514_string() in shown.out

    issued = cli("ca", "issue", "-n", "default", "-s", "sleep", "--ttl", "10m")
    assert issued.code == 0, issued.err
    key_pem, chain = split_issue_output(issued.out)
    leaf = certs(chain[0])[0]
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    assert key.public_key() == leaf.public_key()
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(minutes=10)
    assert verify_chain(chain)[-1] == first_root
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://cluster.local/ns/default/sa/sleep"
    ]
    default_ttl = certs(
        split_issue_output(cli("ca", "issue", "-n", "default", "-s", "ratings").out)[1][0]
    )[0]
    assert default_ttl.not_valid_after_utc - default_ttl.not_valid_before_utc == timedelta(
        minutes=30
    )

    listing = cli("ca", "issued")
    assert f"{leaf.serial_number:x}" in listing.out

    revoked = cli("ca", "revoke", "default/sleep")
    assert revoked.code == 0, revoked.err
    assert f"{leaf.serial_number:x}" in revoked.out
    refused = cli("ca", "issue", "-n", "default", "-s", "sleep")
    assert refused.code == 1
    assert "PERMISSION_DENIED" in refused.err and "revoked" in refused.err
    assert "revoked" in cli("ca", "issued").out

    rotated = cli("ca", "rotate-root", "--overlap", "1h")
    assert rotated.code == 0, rotated.err
    assert "2 root(s)" in rotated.out
    bundle = certs(cli("ca", "root", "-o", "pem").out)
    assert len(bundle) == 2 and bundle[1] == first_root
    # The SVID of the old root still verifies against the bundle during the overlap.
    assert verify_with(leaf, [], bundle)[-1] == first_root
    after = certs(
        split_issue_output(cli("ca", "issue", "-n", "default", "-s", "ratings").out)[1][0]
    )[0]
    assert verify_with(after, [], bundle)[-1] == bundle[0]

    bad = cli("ca", "revoke", "sleep")
    assert bad.code == 1 and "<namespace>/<service-account>" in bad.err


def test_broken_plugged_in_ca_stops_the_control_plane_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "cacerts").mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mainsail",
            "control-plane",
            "--state-dir",
            str(tmp_path),
            "--xds-port",
            "0",
            "--api-port",
            "0",
            "--cacerts-dir",
            str(tmp_path / "cacerts"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"plugged-in CA {tmp_path / 'cacerts'}: ca-cert.pem is missing" in result.stderr


def test_the_tls_port_of_a_control_plane_on_free_ports(home: Home) -> None:
    """``--xds-port 0`` without ``--xds-tls-port``: the TLS port is any free one too (several
    control planes on one machine), its root written where agents look for it, and a CSR
    over it verified against that root and ISTIOD_SAN works."""
    import asyncio

    from mainsail.ca.client import request_certificate
    from mainsail.ca.csr import new_workload_csr
    from mainsail.ca.layout import CaLayout
    from mainsail.ca.serving import ISTIOD_SAN, ROOT_CERT_PATH
    from mainsail.ca.tokens import mint_pod_token

    info = home.read_json(home.control_plane_file) or {}
    host, _, port = str(info["xds_tls"]).rpartition(":")
    assert port != "15012" and info["xds_tls"] != info["xds"]
    root_file = home.root / ROOT_CERT_PATH
    assert info["root_cert"] == str(root_file)
    token = mint_pod_token(
        CaLayout(home.root / "ca").token_signing_key, "default", "tls-client", "tls-client-1", 600
    )
    csr = new_workload_csr("spiffe://cluster.local/ns/default/sa/tls-client")
    # Right after the lifecycle test's root rotation: the file already follows it.
    chain = asyncio.run(
        request_certificate(
            f"{host}:{port}",
            csr.csr_pem,
            600,
            token,
            root_pem=root_file.read_text(),
            server_name=ISTIOD_SAN,
        )
    )
    verify_chain(chain)
