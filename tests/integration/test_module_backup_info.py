# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``s3napback.s3napback.backup_info`` module, run for real by ``ansible-playbook`` on localhost.

Real S3 server and backups made with the command. One set is backed up (FULL, then DIFF), the other never: the
report says ok and missing, then stale once the backups are old, then broken once a chunk is deleted from the
bucket. The module never changes anything and runs the same in check mode.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from support.ansible import Playbooks
from support.configs import write_config

pytestmark = pytest.mark.integration

MODULE = "s3napback.s3napback.backup_info"
HOST = "info-host"


def test_backup_info_module(tmp_path, cli, s3_server, bucket, gpg_keys, s3_key_file):
    client = s3_server.client()
    kept = tmp_path / "kept"
    never = tmp_path / "never"
    for folder in (kept, never):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "file.txt").write_text(f"{folder.name}\n")
    conf = write_config(
        tmp_path / "s3napback.conf",
        bucket=bucket,
        endpoint=s3_server.endpoint,
        key_file=s3_key_file,
        diff_dir=tmp_path / "diffs",
        directories=[kept, never],
        recipient=gpg_keys.email,
        keyring=gpg_keys.public_home,
        host=HOST,
    )
    cli("backup", "-c", conf, "--set", kept, check=True)
    (kept / "sub" / "more.txt").write_text("after the FULL\n")
    cli("backup", "-c", conf, "--set", kept, "--force", check=True)
    rows = json.loads(cli("list", "-c", conf, "--set", kept, "--json", check=True).stdout)
    full_id, diff_id = (row["backup_id"] for row in rows)
    playbooks = Playbooks(tmp_path / "ansible", MODULE)
    objects = {"config": conf}

    # (a) objects (the default), in check mode too, the kept set alone, and the catalog only (verify none)
    run = playbooks.run(
        [
            {"args": objects},
            {"args": objects, "check_mode": True},
            {"args": {**objects, "sets": [f"{kept}/"], "verify": "data", "stale_hours": 36}},
            {"args": {**objects, "verify": "none"}},
        ]
    )
    assert run.proc.returncode == 0, run.output()
    report, checked, only_kept, catalog = run.results
    assert report["changed"] is False
    assert (report["host"], report["status"]) == (HOST, "missing")
    assert report["problems"] == [f"{never}: no committed backup of {never} for host {HOST}"]
    assert [s["set"] for s in report["sets"]] == sorted([str(kept), str(never)])
    by_set = {s["set"]: s for s in report["sets"]}
    ok, missing = by_set[str(kept)], by_set[str(never)]
    assert (ok["status"], ok["level"], ok["problems"]) == ("ok", "objects", [])
    assert (ok["good"], ok["last_good"]) == ([full_id, diff_id], diff_id)
    assert [b["backup_id"] for b in ok["backups"]] == [full_id, diff_id]
    assert ok["backups"][1]["chain"] == [full_id, diff_id] and ok["backups"][1]["kind"] == "DIFF"
    assert ok["restorable_from"] == ok["backups"][0]["finished"]
    assert ok["restorable_to"] == ok["last_good_finished"] == ok["backups"][1]["finished"]
    assert 0 <= ok["last_good_age_hours"] < 1
    assert (missing["status"], missing["backups"], missing["last_good"]) == ("missing", [], None)
    assert checked["changed"] is False
    assert {k: v for k, v in checked.items() if k != "sets"} == {k: v for k, v in report.items() if k != "sets"}
    assert only_kept["status"] == "ok" and only_kept["problems"] == []
    assert [(s["set"], s["status"], s["level"]) for s in only_kept["sets"]] == [(str(kept), "ok", "data")]
    assert catalog["status"] == "unchecked" and catalog["problems"] == []
    assert {s["set"]: s["status"] for s in catalog["sets"]} == {str(kept): "unchecked", str(never): "unchecked"}
    assert [b["backup_id"] for b in catalog["sets"][0]["backups"]] == [full_id, diff_id]
    assert "last_good" not in catalog["sets"][0]

    # (b) stale: backups older than stale_hours (their manifests say they finished two days ago)
    set_folder = f"{HOST}/{quote(str(kept), safe='')}/"
    for backup_id in (full_id, diff_id):
        key = f"{set_folder}{backup_id}/manifest.json"
        manifest = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        manifest["finished"] = "2001-02-03T04:05:06Z"
        client.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())
    kept_only = {**objects, "sets": [str(kept)]}
    run = playbooks.run([{"args": {**kept_only, "stale_hours": 0}}, {"args": {**kept_only, "stale_hours": 36}}])
    assert run.proc.returncode == 0, run.output()
    for stale in run.results:
        assert stale["status"] == "stale", stale
        (problem,) = stale["problems"]
        assert problem.startswith(f"{kept}: the newest good backup, {diff_id}, is ") and "hours old" in problem
        assert stale["sets"][0]["last_good"] == diff_id

    # (c) broken: a chunk of the FULL deleted, so neither backup can be restored
    chunk = f"{set_folder}{full_id}/chunk-000000.tar.zst.gpg"
    client.delete_object(Bucket=bucket, Key=chunk)
    run = playbooks.run([{"args": {**kept_only, "stale_hours": 36}}, {"args": {**objects, "stale_hours": 36}}])
    assert run.proc.returncode == 0, run.output()
    broken, everything = run.results
    assert broken["status"] == "broken"
    assert broken["problems"] == [
        f"{kept}: chunk chunk-000000.tar.zst.gpg of backup {full_id} is missing from the bucket"
    ]
    (entry,) = broken["sets"]
    assert (entry["status"], entry["good"], entry["last_good"], entry["restorable_from"]) == ("broken", [], None, None)
    assert everything["status"] == "missing"  # the worst: the never backed-up set
    assert sorted(s["status"] for s in everything["sets"]) == ["broken", "missing"]

    # (d) errors end the task with one line: a bucket that does not exist
    gone = write_config(
        tmp_path / "gone.conf",
        bucket="s3nb-no-such-bucket",
        endpoint=s3_server.endpoint,
        key_file=s3_key_file,
        diff_dir=tmp_path / "diffs",
        directories=[kept],
        host=HOST,
    )
    run = playbooks.run([{"args": {"config": gone}, "ignore_errors": True}])
    (failed,) = run.results
    assert failed["failed"] is True and "s3nb-no-such-bucket" in failed["msg"] and "\n" not in failed["msg"]
    assert "sets" not in failed
    assert s3_server.secret_key not in run.proc.stdout + run.proc.stderr + run.dump


def test_backup_info_of_another_host(tmp_path, cli, s3_server, bucket, gpg_keys, s3_key_file):
    """Another host's sets, found in the bucket; a host with nothing stored is missing."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "file.txt").write_text("data\n")
    common = dict(
        bucket=bucket,
        endpoint=s3_server.endpoint,
        key_file=s3_key_file,
        diff_dir=tmp_path / "diffs",
        recipient=gpg_keys.email,
        keyring=gpg_keys.public_home,
    )
    other = write_config(tmp_path / "other.conf", directories=[data], host="lost-host", **common)
    cli("backup", "-c", other, check=True)
    mine = write_config(tmp_path / "mine.conf", directories=[], host="new-host", **common)
    playbooks = Playbooks(tmp_path / "ansible", MODULE)
    run = playbooks.run([{"args": {"config": mine, "host": "lost-host"}}, {"args": {"config": mine}}])
    assert run.proc.returncode == 0, run.output()
    lost, empty = run.results
    assert (lost["host"], lost["status"], [s["set"] for s in lost["sets"]]) == ("lost-host", "ok", [str(data)])
    assert (empty["host"], empty["status"], empty["sets"]) == ("new-host", "missing", [])
    assert empty["problems"] == [f"host new-host has no backup set, neither in {Path(mine)} nor in the bucket"]
