"""``mainsail proxy-status`` and ``proxy-config`` against real Envoys of a small mesh."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mainsail.testing.mesh import LocalMesh
from mainsail.testing.waiting import wait_for_sync
from tests.cli.conftest import Cli
from tests.runtime.meshes import write_mesh

RATINGS_CLUSTER = "outbound|9080||ratings.default.svc.cluster.local"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    files = tmp_path_factory.mktemp("files")
    with LocalMesh([write_mesh(files)], tmp_path_factory.mktemp("mesh")) as mesh:
        yield mesh


@pytest.fixture
def cli(mesh: LocalMesh) -> Cli:
    return Cli(mesh.home.root)


def table(text: str) -> list[list[str]]:
    """A printed table's rows, cells split on the runs of 3+ spaces between columns."""
    import re

    return [re.split(r" {3,}", line.strip()) for line in text.splitlines() if line.strip()]


def synced_table(cli: Cli) -> list[list[str]]:
    def all_synced() -> list[list[str]] | None:
        rows = table(cli("proxy-status").out)
        done = len(rows) == 3 and all(r[2:6] == ["SYNCED"] * 4 for r in rows[1:])
        return rows if done else None

    rows = wait_for_sync(all_synced, timeout=15, message="both proxies SYNCED")
    assert rows is not None
    return rows


def test_proxy_status_lists_each_proxy_and_its_sync_state(mesh: LocalMesh, cli: Cli) -> None:
    rows = synced_table(cli)
    assert rows[0] == ["NAME", "XDS", "CDS", "LDS", "EDS", "RDS", "ISTIOD"]
    client, ratings = mesh.pod("client"), mesh.pod("ratings")
    assert [r[0] for r in rows[1:]] == [f"{client.name}.default", f"{ratings.name}.default"]
    assert all(r[1] == "delta" and r[6] == "mainsail" for r in rows[1:])


def test_proxy_status_json_and_one_proxy(mesh: LocalMesh, cli: Cli) -> None:
    synced_table(cli)
    ratings = mesh.pod("ratings")
    proxies = json.loads(cli("proxy-status", "-o", "json").out)
    assert {p["proxy"] for p in proxies} == {
        f"{ratings.name}.default",
        f"{mesh.pod('client').name}.default",
    }
    for proxy in proxies:
        assert set(proxy["types"]) >= {"CDS", "LDS", "EDS", "RDS"}
        cds = proxy["types"]["CDS"]
        assert cds["state"] == "SYNCED" and cds["acked_version"] == cds["sent_version"]
    for given in (f"{ratings.name}.default", ratings.name):
        rows = table(cli("proxy-status", given).out)
        assert [r[0] for r in rows[1:]] == [f"{ratings.name}.default"], given
    unknown = cli("proxy-status", "nope.default")
    assert unknown.code == 1
    assert unknown.err.startswith("error: no connected proxy is 'nope.default'; connected: ")


def test_proxy_config_clusters_as_a_table_and_as_json(mesh: LocalMesh, cli: Cli) -> None:
    ran = cli("proxy-config", "cluster", "client")
    assert ran.code == 0, ran.err
    rows = table(ran.out)
    assert rows[0] == ["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE"]
    assert ["ratings.default.svc.cluster.local", "9080", "-", "outbound", "EDS"] in rows
    assert any(r[0] == "PassthroughCluster" for r in rows)
    as_json = json.loads(cli("proxy-config", "clusters", "client", "-o", "json").out)
    assert RATINGS_CLUSTER in {c["name"] for c in as_json}
    as_yaml = yaml.safe_load(cli("proxy-config", "c", "client", "-o", "yaml").out)
    assert as_yaml == as_json


def test_proxy_config_listeners_routes_and_endpoints(mesh: LocalMesh, cli: Cli) -> None:
    ratings, client = mesh.pod("ratings"), mesh.pod("client")
    listeners = table(cli("proxy-config", "listener", ratings.name).out)
    assert listeners[0] == ["NAME", "ADDRESSES", "PORT", "DIRECTION", "CHAINS"]
    directions = {(r[1], r[2], r[3]) for r in listeners[1:]}
    assert (ratings.ip, "9080", "INBOUND") in directions
    assert (ratings.ip, str(ratings.proxy_ports.outbound), "OUTBOUND") in directions

    routes = table(cli("proxy-config", "routes", "client").out)
    assert routes[0] == ["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"]
    assert any(r[1] == "ratings.default.svc.cluster.local:9080" for r in routes[1:])

    endpoints = table(cli("proxy-config", "ep", f"{client.name}.default").out)
    assert endpoints[0] == ["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"]
    assert [f"{ratings.ip}:9080", "HEALTHY", "OK", RATINGS_CLUSTER] in endpoints


def test_proxy_config_bootstrap_and_all_are_whole_documents(mesh: LocalMesh, cli: Cli) -> None:
    ratings = mesh.pod("ratings")
    bootstrap = json.loads(cli("proxy-config", "bootstrap", "ratings").out)
    assert bootstrap["bootstrap"]["node"]["id"].startswith(f"sidecar~{ratings.ip}~{ratings.name}")
    everything = yaml.safe_load(cli("proxy-config", "all", "ratings", "-o", "yaml").out)
    types = {c["@type"].rsplit(".", 1)[-1] for c in everything["configs"]}
    assert {"BootstrapConfigDump", "ClustersConfigDump", "ListenersConfigDump"} <= types


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ecds", "ratings"), "error: unknown type 'ecds'; want one of cluster, listener"),
        (("cluster", "nope"), "error: no pod matches 'nope'; pods: client-"),
        (("cluster", "ratings", "-n", "other"), "error: no pod matches 'ratings'"),
        (("cluster", ""), "error: more than one pod matches ''"),
    ],
)
def test_proxy_config_of_an_unknown_type_or_pod_is_an_error(
    cli: Cli, args: tuple[str, ...], message: str
) -> None:
    ran = cli("proxy-config", *args)
    assert (ran.code, ran.out) == (1, "")
    assert ran.err.startswith(message), ran.err


def test_proxy_config_without_a_mesh_is_an_error(tmp_path: Path) -> None:
    ran = Cli(tmp_path)("proxy-config", "cluster", "ratings")
    assert ran.code == 1
    assert ran.err == "error: no pod matches 'ratings'; pods: none\n"
