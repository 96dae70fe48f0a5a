# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``ansible-playbook s3napback.s3napback.restore`` and ``... .verify`` on an inventory of two local hosts.

``source`` and ``target`` are both localhost, each with its own config (HostName, set) in one bucket. restore.yml
restores the source's backup onto the target (disaster recovery) with the private key from a file on the
controller, then part of the target's own backup with the key from a variable; verify.yml passes, writes its JSON
report, and fails the target alone once the target's backups are deleted.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from support.ansible import Playbooks
from support.configs import write_config
from support.gpgkeys import export_secret_key
from support.trees import assert_same_tree

pytestmark = pytest.mark.integration


def messages(stdout: str) -> list:
    """The ``msg`` of every task result that ansible-playbook printed (JSON result format)."""
    return [json.loads(m)["msg"] for m in re.findall(r"=> (\{.*?\n\})", stdout, re.S) if '"msg"' in m]


@pytest.fixture
def fleet(tmp_path, cli, s3_server, bucket, gpg_keys, s3_key_file):
    """Two hosts (both localhost), each backed up once; returns what the tests need."""
    hosts = {}
    for name in ("source", "target"):
        data = tmp_path / f"{name}-data"
        (data / "etc").mkdir(parents=True)
        (data / "etc" / "app.conf").write_text(f"setting = {name}\n")
        (data / "notes.txt").write_text(f"notes of {name}\n" * 100)
        (data / "run.sh").write_text("#!/bin/sh\necho hi\n")
        (data / "run.sh").chmod(0o755)
        conf = write_config(
            tmp_path / f"{name}.conf",
            bucket=bucket,
            endpoint=s3_server.endpoint,
            key_file=s3_key_file,
            diff_dir=tmp_path / f"{name}-diffs",
            directories=[data],
            recipient=gpg_keys.email,
            keyring=gpg_keys.public_home,
            host=f"{name}-host",
        )
        cli("backup", "-c", conf, check=True)
        if name == "source":  # a chain of two: a FULL and a DIFF
            (data / "etc" / "app.conf").write_text("setting = changed after the FULL\n")
            (data / "notes.txt").unlink()
            cli("backup", "-c", conf, "--force", check=True)
        rows = json.loads(cli("list", "-c", conf, "--json", check=True).stdout)
        hosts[name] = {"data": data, "conf": conf, "backups": [row["backup_id"] for row in rows]}
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(
        "[backup_hosts]\n"
        + "".join(
            f"{name} ansible_connection=local ansible_python_interpreter={sys.executable} "
            f"s3napback_config_path={host['conf']}\n"
            for name, host in hosts.items()
        )
    )
    key = export_secret_key(gpg_keys)
    key_file = tmp_path / "controller" / "backup-private.asc"
    key_file.parent.mkdir()
    key_file.write_text(key)
    runner = Playbooks(tmp_path / "ansible", "ansible.builtin.debug")  # only for its environment

    def play(playbook: str, *extra: str) -> subprocess.CompletedProcess:
        env = {**runner.env, "PWD": str(tmp_path)}  # as a shell sets it: where the report goes by default
        return subprocess.run(  # noqa: S603
            [runner.ansible_playbook, "-i", str(inventory), f"s3napback.s3napback.{playbook}",
             "-e", "ansible_become=false", *extra],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip

    return {"hosts": hosts, "key": key, "key_file": key_file, "play": play, "tmp": tmp_path}


def assert_key_not_shown(text: str, key: str) -> None:
    for line in key.splitlines():
        if len(line) >= 40 and not line.startswith("-----"):
            assert line not in text, "a line of the private key appears in the ansible-playbook output"


def test_restore_playbook(fleet, s3_server, bucket):
    play, tmp, hosts = fleet["play"], fleet["tmp"], fleet["hosts"]
    source = hosts["source"]["data"]

    # the required variables are checked first, with a clear message
    missing = play("restore", "-e", "s3napback_restore_target=target")
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert "give the host to restore onto, the set and the folder to restore into" in missing.stdout
    no_key = play(
        "restore",
        *("-e", "s3napback_restore_target=target", "-e", f"s3napback_restore_set={source}"),
        *("-e", f"s3napback_restore_dest={tmp / 'nowhere'}"),
    )
    assert no_key.returncode == 2 and "give the backup's private key in exactly one way" in no_key.stdout
    assert not (tmp / "nowhere").exists()
    typo = play(
        "restore",
        *("-e", "s3napback_restore_target=targte", "-e", f"s3napback_restore_set={source}"),
        *("-e", f"s3napback_restore_dest={tmp / 'nowhere'}"),
        *("-e", f"s3napback_restore_private_key_file={fleet['key_file']}"),
    )
    assert typo.returncode == 2, typo.stdout + typo.stderr  # it used to skip the restore and exit 0
    assert "s3napback_restore_target: targte is neither a host nor a group of the inventory" in typo.stdout

    # disaster recovery: the source host's backup onto the target, the key from a file on the controller; first
    # in check mode (the plan), then for real at -vvv
    dest = tmp / "recovered"
    recover = (
        *("-e", "s3napback_restore_target=target", "-e", "s3napback_restore_source_host=source-host"),
        *("-e", f"s3napback_restore_set={source}", "-e", f"s3napback_restore_dest={dest}"),
        *("-e", f"s3napback_restore_private_key_file={fleet['key_file']}"),
    )
    run = play("restore", "--check", *recover)
    assert run.returncode == 0, run.stdout + run.stderr
    (line,) = [m for m in messages(run.stdout) if isinstance(m, str) and " would restore " in m]
    assert line.startswith(f"{source} of host source-host: would restore {hosts['source']['backups'][1]} (on top")
    assert " would download at most " in line
    assert not dest.exists()
    run = play("restore", "-vvv", *recover)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    lines = [m for m in messages(run.stdout) if isinstance(m, str) and " restored " in m]
    assert len(lines) == 1, run.stdout
    full_id, diff_id = hosts["source"]["backups"]
    assert lines[0].startswith(f"{source} of host source-host: restored {diff_id} (on top of {full_id}) into {dest}")
    assert f"into {dest} on target: downloaded " in lines[0]
    assert "downloaded " in lines[0] and "ok=" in run.stdout and "changed=1" in run.stdout
    assert_same_tree(str(source), str(dest / str(source).lstrip("/")))
    assert_key_not_shown(output, fleet["key"])
    assert s3_server.secret_key not in output

    # the target's own backup (the default source), partly, with the key from a (vaulted) variable
    extra_vars = tmp / "key-vars.json"
    extra_vars.write_text(json.dumps({"s3napback_private_key": fleet["key"], "s3napback_restore_paths": ["etc"]}))
    own = hosts["target"]["data"]
    part = tmp / "part"
    run = play(
        "restore",
        *("-e", "s3napback_restore_target=target", "-e", f"s3napback_restore_set={own}"),
        *("-e", f"s3napback_restore_dest={part}", "-e", f"@{extra_vars}"),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (line,) = [m for m in messages(run.stdout) if isinstance(m, str) and " restored " in m]
    assert line.startswith(f"{own} of host target-host: restored 2 members of ")
    assert_same_tree(str(own / "etc"), str(part / str(own).lstrip("/") / "etc"))
    assert not (part / str(own).lstrip("/") / "notes.txt").exists()
    assert_key_not_shown(run.stdout + run.stderr, fleet["key"])

    # the key kept in the target's own (vaulted) host variables, where the first play on localhost used to miss it
    host_vars = tmp / "host_vars"
    host_vars.mkdir()
    (host_vars / "target.json").write_text(json.dumps({"s3napback_private_key": fleet["key"]}))
    run = play(
        "restore",
        *("-e", "s3napback_restore_target=target", "-e", f"s3napback_restore_set={own}"),
        *("-e", f"s3napback_restore_dest={tmp / 'part-by-host-vars'}"),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert_same_tree(str(own), str(tmp / "part-by-host-vars" / str(own).lstrip("/")))
    (host_vars / "target.json").unlink()

    # a restore that fails (the folder is not empty) fails the host with the module's one line, key hidden
    run = play(
        "restore",
        "-vvv",
        *("-e", "s3napback_restore_target=target", "-e", f"s3napback_restore_set={own}"),
        *("-e", f"s3napback_restore_dest={part}", "-e", f"@{extra_vars}"),
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"destination {part} is not empty; choose an empty or new folder" in run.stdout
    assert "rescued=1" in run.stdout
    assert_key_not_shown(run.stdout + run.stderr, fleet["key"])


def test_verify_playbook(fleet, s3_server, bucket):
    play, tmp, hosts = fleet["play"], fleet["tmp"], fleet["hosts"]
    report_file = tmp / "s3napback-report.json"

    run = play("verify")
    assert run.returncode == 0, run.stdout + run.stderr
    (table,) = [m for m in messages(run.stdout) if isinstance(m, list)]
    assert table[0].split() == ["HOST", "SET", "STATUS", "LAST", "GOOD", "AGE", "RESTORABLE", "PROBLEMS"]
    assert len(table) == 3
    for row, name in zip(table[1:], ("source", "target")):
        fields = row.split()
        assert fields[:3] == [name, str(hosts[name]["data"]), "OK"], row
        assert fields[3] == hosts[name]["backups"][-1] and fields[4].endswith("h") and fields[-1] == "0"
        assert fields[6] == ".."
    report = json.loads(report_file.read_text())
    assert (report["level"], report["stale_hours"]) == ("objects", 36.0)
    assert [(h["host"], h["source_host"], h["status"]) for h in report["hosts"]] == [
        ("source", "source-host", "ok"),
        ("target", "target-host", "ok"),
    ]
    source_set = report["hosts"][0]["sets"][0]
    assert source_set["good"] == hosts["source"]["backups"] and source_set["last_good"] == hosts["source"]["backups"][1]

    # the target's backups deleted: the target fails, naming the problem; the source does not
    client = s3_server.client()
    for item in client.list_objects_v2(Bucket=bucket, Prefix="target-host/")["Contents"]:
        client.delete_object(Bucket=bucket, Key=item["Key"])
    elsewhere = tmp / "reports" / "verify.json"
    elsewhere.parent.mkdir()
    run = play("verify", "-e", f"s3napback_report_file={elsewhere}", "-e", "s3napback_verify_level=data")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "fatal: [target]: FAILED!" in run.stdout and "fatal: [source]" not in run.stdout
    problem = f"target: missing: {hosts['target']['data']}: no committed backup of {hosts['target']['data']}"
    assert problem in run.stdout
    assert re.search(r"source\s+: ok=\d+ .* failed=0", run.stdout) and re.search(r"target\s+: .* failed=1", run.stdout)
    (table,) = [m for m in messages(run.stdout) if isinstance(m, list)]
    assert table[2].split()[:3] == ["target", str(hosts["target"]["data"]), "MISSING"]
    assert table[2].split()[3:] == ["-", "-", "-", "1"]
    report = json.loads(elsewhere.read_text())
    assert report["level"] == "data"
    assert [(h["host"], h["status"]) for h in report["hosts"]] == [("source", "ok"), ("target", "missing")]
    assert s3_server.secret_key not in run.stdout + run.stderr
