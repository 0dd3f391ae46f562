"""``mainsail agent``'s flags for TLS to the control plane (istiod's 15012)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mainsail.agent.settings import NodeAgentSettings
from mainsail.ca.serving import ISTIOD_SAN, ROOT_CERT_PATH
from mainsail.cli.common import CommandError
from mainsail.cli.daemons import agent_settings_of
from mainsail.cli.main import build_parser


def settings(tmp_path: Path, *flags: str) -> NodeAgentSettings:
    args = build_parser().parse_args(["agent", "--state-dir", str(tmp_path), *flags])
    return agent_settings_of(args)


def test_plaintext_by_default(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert (s.xds_host, s.xds_port, s.xds_tls) == ("127.0.0.1", 15010, False)


def test_tls_flag_and_istio_defaults(tmp_path: Path) -> None:
    s = settings(tmp_path, "--xds-address", "10.0.0.5:15012", "--xds-tls")
    assert (s.xds_host, s.xds_port, s.xds_tls) == ("10.0.0.5", 15012, True)
    assert s.xds_san == ISTIOD_SAN
    assert s.root_cert_file == tmp_path / ROOT_CERT_PATH
    assert s.ca_target == "10.0.0.5:15012"


def test_https_scheme_means_tls(tmp_path: Path) -> None:
    root = tmp_path / "root-cert.pem"
    root.write_text("x")
    s = settings(
        tmp_path,
        "--xds-address",
        "https://istiod.example:15012",
        "--xds-root-cert",
        str(root),
        "--xds-san",
        "istiod.mesh.svc",
    )
    assert (s.xds_host, s.xds_port, s.xds_tls) == ("istiod.example", 15012, True)
    assert (s.root_cert_file, s.xds_san) == (root, "istiod.mesh.svc")
    assert not settings(tmp_path, "--xds-address", "http://127.0.0.1:15010").xds_tls


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--xds-address", "ftp://h:1"], "scheme 'ftp'"),
        (["--xds-address", "https://h"], "want host:port"),
        (["--xds-tls", "--xds-root-cert", "/nonexistent/root.pem"], "no such file"),
    ],
)
def test_bad_flags_name_the_flag(tmp_path: Path, flags: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        settings(tmp_path, *flags)
