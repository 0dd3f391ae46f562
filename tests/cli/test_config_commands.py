"""``mainsail apply``, ``get``, ``delete`` and ``validate`` as a user runs them: what is printed,
on which stream, and the exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from mainsail.runtime.home import Home
from mainsail.testing.waiting import wait_for_sync
from tests.cli.conftest import Cli, ControlPlane, run_mainsail

REVIEWS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
"""

RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - name: v1
    labels: {version: v1}
"""

BAD_WEIGHT = REVIEWS.replace("name: reviews\n", "name: broken\n").replace(
    "subset: v1}", "subset: v1}\n      weight: -5"
)
UNKNOWN_FIELD = RULE.replace("name: reviews\n", "name: typo\n").replace(
    "host: reviews", "host: reviews\n  subset: v1"
)
LEGACY_GATEWAY = REVIEWS.replace("hosts: [reviews]", "hosts: [reviews]\n  gateways: [gw.shop]")


def write(path: Path, *docs: str) -> str:
    path.write_text("---\n".join(docs))
    return str(path)


def names(cli: Cli, kind: str, *flags: str) -> list[str]:
    ran = cli("get", kind, "-o", "json", *flags)
    assert ran.code == 0, ran.err
    return [i["metadata"]["name"] for i in json.loads(ran.out)["items"]]


# --- apply


def test_apply_prints_each_objects_outcome(cli: Cli, tmp_path: Path) -> None:
    file = write(tmp_path / "r.yaml", REVIEWS, RULE)
    first = cli("apply", "-f", file)
    assert (first.code, first.err) == (0, "")
    assert first.out.splitlines() == [
        "virtualservice/reviews created",
        "destinationrule/reviews created",
    ]
    assert cli("apply", "-f", file).out.splitlines() == [
        "virtualservice/reviews unchanged",
        "destinationrule/reviews unchanged",
    ]
    write(tmp_path / "r.yaml", REVIEWS.replace("subset: v1", "subset: v2"), RULE)
    assert cli("apply", "-f", file).out.splitlines() == [
        "virtualservice/reviews configured",
        "destinationrule/reviews unchanged",
    ]


def test_apply_of_a_directory_takes_its_yaml_and_json_files(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "config"
    (folder / "nested").mkdir(parents=True)
    write(folder / "a.yaml", REVIEWS)
    (folder / "nested" / "b.json").write_text(json.dumps(yaml.safe_load(RULE)))
    (folder / "notes.txt").write_text("not config")
    ran = cli("apply", "-f", str(folder))
    assert ran.code == 0, ran.err
    assert sorted(ran.out.splitlines()) == [
        "destinationrule/reviews created",
        "virtualservice/reviews created",
    ]


def test_apply_with_an_invalid_document_in_any_file_changes_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    good = write(tmp_path / "good.yaml", RULE)
    bad = write(tmp_path / "bad.yaml", REVIEWS, BAD_WEIGHT, UNKNOWN_FIELD)
    ran = cli("apply", "-f", good, "-f", bad)
    assert ran.code == 1
    assert ran.out == ""
    errors = ran.err.splitlines()
    assert (
        f"error: {bad}: document 2 (VirtualService default/broken): spec.http[0].route[0].weight: must be >= 0 [MS-VS-WEIGHT]"
        in errors
    )
    assert any(
        line.startswith(f"error: {bad}: document 3 (DestinationRule default/typo): spec.subset:")
        for line in errors
    ), errors
    assert names(cli, "vs") == [] and names(cli, "dr") == []


def test_apply_of_broken_yaml_or_a_missing_file_names_it(cli: Cli, tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.yaml", RULE, "spec: [unclosed\n")
    missing = str(tmp_path / "missing.yaml")
    ran = cli("apply", "-f", broken, "-f", missing)
    assert ran.code == 1
    assert f"error: {broken}: document 2: YAML syntax error at line" in ran.err
    assert f"error: {missing}: no such file or directory [MS-READ]" in ran.err
    assert names(cli, "dr") == []


def test_apply_of_a_file_without_objects_is_an_error(cli: Cli, tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.yaml", "# nothing here\n")
    ran = cli("apply", "-f", empty)
    assert ran.code == 1
    assert ran.err == f"error: no objects passed to apply (in {empty})\n"


def test_dry_run_reports_and_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    file = write(tmp_path / "w.yaml", LEGACY_GATEWAY, RULE)
    ran = cli("apply", "--dry-run", "-f", file)
    assert ran.code == 0
    assert ran.out == "dry run: 2 object(s) valid; nothing changed\n"
    assert "uses the legacy FQDN form" in ran.err
    assert ran.err.startswith(f"warning: {file}: document 1 (VirtualService default/reviews)")
    assert names(cli, "vs") == []
    bad = cli("apply", "--dry-run", "-f", write(tmp_path / "b.yaml", BAD_WEIGHT))
    assert bad.code == 1 and "spec.http[0].route[0].weight" in bad.err


def test_apply_prints_warnings_once_and_applies(cli: Cli, tmp_path: Path) -> None:
    ran = cli("apply", "-f", write(tmp_path / "w.yaml", LEGACY_GATEWAY))
    assert ran.code == 0
    assert ran.out == "virtualservice/reviews created\n"
    [warning] = ran.err.splitlines()
    assert warning.startswith("warning: ") and warning.count("warning:") == 1


def test_apply_into_a_namespace(cli: Cli, tmp_path: Path) -> None:
    assert cli("apply", "-n", "shop", "-f", write(tmp_path / "r.yaml", REVIEWS)).code == 0
    assert names(cli, "vs") == []
    assert names(cli, "vs", "-n", "shop") == ["reviews"]


# --- get


def test_get_prints_a_table_per_kind(cli: Cli, tmp_path: Path) -> None:
    cli("apply", "-f", write(tmp_path / "r.yaml", REVIEWS, RULE))
    cli("apply", "-n", "shop", "-f", write(tmp_path / "s.yaml", RULE))
    vs = cli("get", "virtualservices").out.splitlines()
    assert vs[0].split() == ["NAME", "GATEWAYS", "HOSTS", "AGE"]
    assert vs[1].split()[:3] == ["reviews", "[]", '["reviews"]']
    assert vs[1].split()[3].endswith("s")
    rules = cli("get", "dr", "-A").out.splitlines()
    assert rules[0].split() == ["NAMESPACE", "NAME", "HOST", "AGE"]
    assert [line.split()[:3] for line in rules[1:]] == [
        ["default", "reviews", "reviews"],
        ["shop", "reviews", "reviews"],
    ]


def test_get_output_yaml_and_json_are_the_stored_objects(cli: Cli, tmp_path: Path) -> None:
    cli("apply", "-f", write(tmp_path / "r.yaml", REVIEWS))
    one = yaml.safe_load(cli("get", "vs", "reviews", "-o", "yaml").out)
    assert one["kind"] == "VirtualService"
    assert one["metadata"]["name"] == "reviews"
    assert one["metadata"]["resourceVersion"]
    assert one["spec"] == yaml.safe_load(REVIEWS)["spec"]
    listed = json.loads(cli("get", "vs", "-o", "json").out)
    assert listed["items"] == [one]
    # What `get -o yaml` prints can be applied back unchanged.
    exported = write(tmp_path / "exported.yaml", cli("get", "vs", "reviews", "-o", "yaml").out)
    assert cli("apply", "-f", exported).out == "virtualservice/reviews unchanged\n"


def test_get_of_nothing_says_so(cli: Cli) -> None:
    ran = cli("get", "gateways", "-n", "empty")
    assert (ran.code, ran.out) == (0, "No resources found in empty namespace.\n")


def test_get_of_an_unknown_kind_or_name_is_an_error(cli: Cli) -> None:
    unknown = cli("get", "widgets")
    assert (unknown.code, unknown.out) == (1, "")
    assert unknown.err == 'error: the server doesn\'t have a resource type "widgets"\n'
    missing = cli("get", "vs", "nope")
    assert missing.code == 1
    assert missing.err == 'error: virtualservices "nope" not found\n'


# --- delete


def test_delete_by_kind_and_names(cli: Cli, tmp_path: Path) -> None:
    cli("apply", "-f", write(tmp_path / "r.yaml", REVIEWS, RULE))
    ran = cli("delete", "virtualservice", "reviews")
    assert (ran.code, ran.out) == (0, "virtualservice/reviews deleted\n")
    again = cli("delete", "vs", "reviews", "other")
    assert again.code == 1
    assert again.out.splitlines() == [
        "virtualservice/reviews not found",
        "virtualservice/other not found",
    ]
    assert names(cli, "dr") == ["reviews"]


def test_delete_by_file(cli: Cli, tmp_path: Path) -> None:
    file = write(tmp_path / "r.yaml", REVIEWS, RULE)
    cli("apply", "-f", file)
    ran = cli("delete", "-f", file)
    assert ran.code == 0
    assert ran.out.splitlines() == [
        "virtualservice/reviews deleted",
        "destinationrule/reviews deleted",
    ]
    assert names(cli, "vs") == [] and names(cli, "dr") == []


def test_delete_with_a_broken_file_deletes_nothing(cli: Cli, tmp_path: Path) -> None:
    cli("apply", "-f", write(tmp_path / "r.yaml", REVIEWS))
    broken = write(tmp_path / "broken.yaml", REVIEWS, "- a list\n")
    ran = cli("delete", "-f", broken)
    assert ran.code == 1
    assert f"error: {broken}: document 2: a document must be a mapping" in ran.err
    assert names(cli, "vs") == ["reviews"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("delete",), "error: give -f FILE, or a KIND and NAME(s)\n"),
        (("delete", "vs"), "error: give -f FILE, or a KIND and NAME(s)\n"),
        (("delete", "widgets", "x"), "error: unknown kind 'widgets'\n"),
        (
            ("delete", "-f", "x.yaml", "vs", "x"),
            "error: give -f FILE, or a KIND and NAME(s), not both\n",
        ),
    ],
)
def test_delete_needs_a_file_or_a_kind_and_names(
    cli: Cli, args: tuple[str, ...], message: str
) -> None:
    ran = cli(*args)
    assert (ran.code, ran.err) == (1, message)


# --- without a control plane, and bad flags


def test_commands_need_a_running_control_plane(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "nothing-here")
    file = write(tmp_path / "r.yaml", REVIEWS)
    for args in (("apply", "-f", file), ("get", "vs"), ("delete", "vs", "x"), ("proxy-status",)):
        ran = cli(*args)
        assert ran.code == 1, args
        assert ran.err == (
            f"error: no control plane is running for {tmp_path / 'nothing-here'} "
            "(start one with `mainsail demo` or `mainsail up -f mesh.yaml`)\n"
        )


def test_a_control_plane_that_died_is_reported_with_its_address(
    tmp_path: Path, control_plane: ControlPlane
) -> None:
    home = tmp_path / "stale"
    home.mkdir()
    # What a control plane killed with -9 leaves behind: its address file, nobody listening.
    from mainsail.testing.ports import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    (home / "controlplane.json").write_text(json.dumps({"pid": 0, "api": dead}))
    ran = Cli(home)("get", "vs")
    assert ran.code == 1
    assert ran.err.startswith(f"error: cannot reach the control plane at {dead}: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("get", "vs", "-o", "xml"), "argument -o/--output: invalid choice: 'xml'"),
        (("apply",), "the following arguments are required: -f/--filename"),
        (("frobnicate",), "argument COMMAND: invalid choice: 'frobnicate'"),
        (("control-plane", "--xds-port", "x"), "argument --xds-port: invalid int value: 'x'"),
    ],
)
def test_bad_flags_exit_2_with_usage(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    ran = Cli(tmp_path)(*args)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err.startswith("usage: mainsail")
    assert message in ran.err


def test_no_command_prints_help_and_exits_2() -> None:
    ran = run_mainsail()
    assert ran.returncode == 2
    assert "usage: mainsail" in ran.stdout and "validate" in ran.stdout


# --- validate (offline)


def test_validate_accepts_valid_files_and_prints_warnings(tmp_path: Path) -> None:
    file = write(tmp_path / "ok.yaml", LEGACY_GATEWAY, RULE)
    ran = run_mainsail("validate", "-f", file)
    assert ran.returncode == 0
    lines = ran.stdout.splitlines()
    assert lines[0].startswith(
        f"warning: {file}:7: document 1 (VirtualService default/reviews): spec.gateways[0]: "
        "gateway 'gw.shop' uses the legacy FQDN form"
    )
    assert lines[0].count("warning:") == 1
    assert lines[1] == f"2 object(s) valid in {file}"


def test_validate_lists_every_error_of_every_file(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", BAD_WEIGHT, UNKNOWN_FIELD, "kind: [\n")
    folder = tmp_path / "more"
    folder.mkdir()
    also_bad = write(folder / "x.yaml", RULE.replace("kind: DestinationRule", "kind: Widget"))
    missing = str(tmp_path / "missing.yaml")
    ran = run_mainsail("validate", "-f", bad, "-f", str(folder), "-f", missing)
    assert ran.returncode == 1
    lines = ran.stdout.splitlines()
    expected = [
        f"error: {bad}:10: document 1 (VirtualService default/broken): spec.http[0].route[0].weight",
        f"error: {bad}:18: document 2 (DestinationRule default/typo): spec.subset",
        f"error: {bad}: document 3: YAML syntax error",
        f"error: {also_bad}:2: document 1 (Widget default/reviews): kind: unknown kind 'Widget'",
        f"error: {missing}: no such file or directory",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in lines), (start, lines)
    assert lines[-1] == f"5 error(s) in {bad}, {folder}, {missing}"


def test_validate_needs_a_file() -> None:
    ran = run_mainsail("validate")
    assert ran.returncode == 2
    assert "the following arguments are required: -f/--filename" in ran.stderr


# --- the control plane's store across restarts


def start_control_plane(state: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mainsail", "control-plane", "--state-dir", str(state),
         "--xds-port", "0", "--api-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_a_restarted_control_plane_serves_its_stored_objects(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = state / "config" / "store.yaml"
    store.parent.mkdir(parents=True)
    # Written by hand, with a creation time that has no zone: Kubernetes times are UTC.
    created = (datetime.now(UTC) - timedelta(hours=2, minutes=1)).replace(tzinfo=None)
    stored = yaml.safe_load(REVIEWS)
    stored["metadata"] |= {"creationTimestamp": created.isoformat(), "resourceVersion": "7"}
    store.write_text(yaml.safe_dump(stored))
    process = start_control_plane(state)
    try:
        home = Home(state)
        wait_for_sync(
            lambda: (home.read_json(home.control_plane_file) or {}).get("pid") == process.pid,
            timeout=30,
            message="the control plane's address file",
        )
        cli = Cli(state)
        rows = [line.split() for line in cli("get", "vs").out.splitlines()]
        assert rows[1] == ["reviews", "[]", '["reviews"]', "2h"]
        ran = cli("apply", "-f", write(tmp_path / "r.yaml", RULE))
        assert ran.out == "destinationrule/reviews created\n"
        rule = yaml.safe_load(cli("get", "dr", "reviews", "-o", "yaml").out)
        assert rule["metadata"]["resourceVersion"] == "8"
    finally:
        process.terminate()
        process.wait(30)


def test_a_control_plane_refuses_a_corrupt_store_naming_the_problem(tmp_path: Path) -> None:
    store = tmp_path / "config" / "store.yaml"
    store.parent.mkdir(parents=True)
    store.write_text(RULE.replace("host: reviews", "host: [a, list]"))
    process = start_control_plane(tmp_path)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert err.decode().splitlines()[:2] == [
        f"error: {store}: the config store has errors; fix or move the file away:",
        f"  {store}: document 1 (DestinationRule default/reviews): spec.host: "
        "must be a valid string (got list) [MS-SCHEMA-TYPE]",
    ]
    assert store.read_text() == RULE.replace("host: reviews", "host: [a, list]")
