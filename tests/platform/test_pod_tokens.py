"""Pod tokens: minted with the CA's key, 0600 beside the pod file, verified by the CA's own
check, re-minted at half-life, removed with the pod."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mainsail.ca.tokens import ensure_signing_key, verification_key, verify_pod_token
from mainsail.platform import PodSpec, PodStore, StateLayout
from mainsail.platform.errors import PlatformError
from mainsail.platform.pod_tokens import PodTokens

POD = PodSpec(name="web-abcde-0", namespace="shop", ip="127.99.0.1", service_account="web")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_token_is_private_and_names_the_pods_service_account(tmp_path: Path) -> None:
    key = tmp_path / "ca" / "token-signing-key.pem"
    key.parent.mkdir()
    ensure_signing_key(key)
    layout = StateLayout(tmp_path)
    path = PodTokens(layout, key).write(POD)
    assert path == tmp_path / "pods" / "shop.web-abcde-0.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    claims = verify_pod_token(path.read_text().strip(), verification_key(key))
    assert (claims.namespace, claims.service_account, claims.pod) == ("shop", "web", POD.name)
    PodStore(layout).write(POD)
    PodStore(layout).remove(POD.namespace, POD.name)
    assert not path.exists()  # the token goes with the pod


def test_refresh_remints_past_half_life_only(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    ensure_signing_key(key)
    clock = Clock()
    tokens = PodTokens(StateLayout(tmp_path), key, ttl_s=100, clock=clock)
    assert tokens.refresh([POD]) == [POD.key]  # missing: minted
    mtime = tokens.path(POD).stat().st_mtime
    clock.now = mtime + 40
    assert tokens.refresh([POD]) == []
    clock.now = mtime + 50
    assert tokens.refresh([POD]) == [POD.key]


def test_missing_signing_key_is_a_platform_error_naming_the_pod(tmp_path: Path) -> None:
    tokens = PodTokens(StateLayout(tmp_path), tmp_path / "absent.pem")
    with pytest.raises(PlatformError, match=r"shop.web-abcde-0.*absent.pem"):
        tokens.write(POD)
