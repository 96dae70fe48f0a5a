# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``s3napback.s3napback.backup`` module, run for real by ``ansible-playbook`` on localhost.

Real S3 server, real gpg keys, real tar/zstd/gpg: check mode, a real run, the same-day runs that do nothing,
a forced DIFF, a missing bucket; then the command restores the result and the tree must be identical.
"""

from __future__ import annotations

import ast
import json
import math
import os
import secrets
import stat
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from support.ansible import Playbooks, Run
from support.cli import run_cli

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
DAY = "2025-03-03"  # a fixed day, so the slot is known
EPOCH_DAY = (date.fromisoformat(DAY) - date(1970, 1, 1)).days
HOST = "module-test-host"
MIB = 1024 * 1024
MODULE = "s3napback.s3napback.backup"
MODULE_FILE = REPO_ROOT / "plugins" / "modules" / "backup.py"


def documented_set_keys() -> set:
    """The keys of an entry of the module's ``sets`` result, as its RETURN documents them."""
    tree = ast.parse(MODULE_FILE.read_text())
    (text,) = (
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and [getattr(target, "id", None) for target in node.targets] == ["RETURN"]
    )
    return set(yaml.safe_load(text)["sets"]["contains"])


def write_config(path: Path, *, bucket: str, diff_dir: Path, source: Path, gpg_keys, s3_key_file, s3_server) -> None:
    path.write_text(
        f"""# written by {__name__}
DiffDir {diff_dir}
Bucket {bucket}
GpgRecipient {gpg_keys.email}
GpgKeyring {gpg_keys.public_home}
S3KeyFile {s3_key_file}
S3Endpoint {s3_server.endpoint}
HostName {HOST}
ChunkSize 1M
<Directory {source}>
    Frequency 1
    Diffs 7
    Fulls 2
</Directory>
"""
    )


def make_tree(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "hello.txt").write_text("Hello from the backup module.\n")
    (root / "sub" / "nested.txt").write_text("nested file\n")
    (root / "sub" / "deeper" / "deep.txt").write_text("deeper still\n")
    (root / "to-delete.txt").write_text("this file is deleted before the DIFF\n")
    (root / "private.txt").write_text("only the owner may read this\n")
    (root / "private.txt").chmod(0o600)
    (root / "link-to-hello").symlink_to("hello.txt")
    (root / "empty").write_bytes(b"")
    # random data does not compress: with ChunkSize 1M the stream needs several chunks
    (root / "random.bin").write_bytes(os.urandom(2 * MIB + 12345))


def change_tree(root: Path) -> None:
    """Changes the DIFF must carry: a modified file, a new file and folder, a deleted file."""
    (root / "hello.txt").write_text("Hello again, changed after the full backup: longer than before.\n")
    (root / "new-folder").mkdir()
    (root / "new-folder" / "new.txt").write_text("created after the full backup\n")
    (root / "to-delete.txt").unlink()


def snapshot_tree(root: Path) -> dict:
    """Every entry under ``root``: type, permission bits and content (file bytes or symlink target)."""
    entries = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            relative = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                content = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                content = ("dir", None)
            else:
                content = ("file", path.read_bytes())
            entries[relative] = (content, stat.S_IMODE(info.st_mode))
    return entries


def bucket_objects(client, bucket: str) -> dict:
    """Key -> size of every object in the bucket."""
    objects = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            objects[item["Key"]] = item["Size"]
    return objects


def assert_no_secret(run: Run, secret: str) -> None:
    for where, text in (("stdout", run.proc.stdout), ("stderr", run.proc.stderr), ("results", run.dump)):
        assert secret not in text, f"the S3 secret appears in the ansible-playbook {where}"


def test_backup_module_through_ansible_playbook(tmp_path, s3_server, bucket, gpg_keys, s3_key_file):
    client = s3_server.client()
    secret = s3_server.secret_key
    assert secret in s3_key_file.read_text()  # the file the module reads holds the secret we look for
    source = tmp_path / "source"
    make_tree(source)
    diff_dir = tmp_path / "diffs"
    config = tmp_path / "s3napback.conf"
    write_config(
        config,
        bucket=bucket,
        diff_dir=diff_dir,
        source=source,
        gpg_keys=gpg_keys,
        s3_key_file=s3_key_file,
        s3_server=s3_server,
    )
    set_name = str(source)
    set_folder = f"{HOST}/{quote(set_name, safe='')}/"
    slot = EPOCH_DAY % 14  # Frequency 1: one period per day; Diffs 7 x Fulls 2 = 14 slots
    playbooks = Playbooks(tmp_path / "ansible", MODULE)
    args = {"config": str(config), "date": DAY}

    # (a) check mode: the plan, and nothing written anywhere
    run = playbooks.run([{"args": args, "check_mode": True}])
    assert run.proc.returncode == 0, run.output()
    (plan,) = run.results
    assert plan["changed"] is True
    assert "failed" not in plan or plan["failed"] is False
    assert len(plan["sets"]) == 1
    entry = plan["sets"][0]
    assert set(entry) == documented_set_keys()  # RETURN documents exactly what is returned
    assert entry["set"] == set_name
    assert entry["action"] == "FULL"
    assert entry["test"] is True
    assert entry["reason"] == "no committed backup yet"
    assert entry["slot"] == slot
    assert entry["backup_id"] is None
    assert (entry["chunks"], entry["bytes_uploaded"], entry["retired"], entry["error"]) == (0, 0, [], None)
    assert entry["after"] == {"restorable": [DAY], "fulls": 1, "diffs": 0}  # the planner's view of today
    assert bucket_objects(client, bucket) == {}
    assert not diff_dir.exists()  # not even the snapshot folder
    assert_no_secret(run, secret)

    # (b) the real run, then check mode and a real run again on the same day: both do nothing
    run = playbooks.run([{"args": args}, {"args": args, "check_mode": True}, {"args": args}])
    assert run.proc.returncode == 0, run.output()
    first, check_again, second = run.results
    assert first["changed"] is True
    entry = first["sets"][0]
    assert entry["action"] == "FULL"
    assert entry["test"] is False
    assert entry["slot"] == slot
    assert entry["parent"] is None
    assert entry["error"] is None
    assert (entry["retired"], entry["leftovers_removed"], entry["warnings"]) == ([], [], [])
    assert entry["after"] == {"restorable": [DAY], "fulls": 1, "diffs": 0}
    full_id = entry["backup_id"]
    assert full_id.startswith("20250303-") and full_id.endswith("-full")
    source_bytes = sum(p.stat().st_size for p in source.rglob("*") if p.is_file() and not p.is_symlink())
    assert entry["bytes_read"] >= source_bytes
    assert entry["bytes_read"] % 512 == 0  # a tar stream
    assert entry["chunks"] == math.ceil(entry["bytes_read"] / MIB) >= 3
    objects = bucket_objects(client, bucket)
    folder = f"{set_folder}{full_id}/"
    assert set(objects) == {f"{folder}manifest.json", f"{folder}index.txt.zst.gpg"} | {
        f"{folder}chunk-{i:06d}.tar.zst.gpg" for i in range(entry["chunks"])
    }
    # what was stored: the chunks and the member index (the manifest is the commit, not counted)
    assert entry["bytes_uploaded"] == sum(size for key, size in objects.items() if not key.endswith(".json"))
    manifest = json.loads(client.get_object(Bucket=bucket, Key=f"{folder}manifest.json")["Body"].read())
    assert (manifest["backup_id"], manifest["kind"], manifest["host"], manifest["set"]) == (
        full_id,
        "FULL",
        HOST,
        set_name,
    )
    assert manifest["recipients"] == [gpg_keys.fingerprint]
    assert len(manifest["chunks"]) == entry["chunks"]
    assert (diff_dir / (quote(set_name, safe="") + ".snar")).is_file()

    for again in (check_again, second):
        assert again["changed"] is False
        entry = again["sets"][0]
        assert entry["action"] == "SKIP"
        assert entry["reason"] == f"already backed up in this period ({full_id})"
        assert (entry["backup_id"], entry["chunks"], entry["bytes_uploaded"]) == (None, 0, 0)
    assert check_again["sets"][0]["test"] is True
    assert second["sets"][0]["test"] is False
    assert bucket_objects(client, bucket) == objects  # nothing added, nothing removed
    assert_no_secret(run, secret)

    # (c) force, after changing the tree: a DIFF on top of the full, for the set named explicitly
    change_tree(source)
    run = playbooks.run([{"args": {**args, "force": True, "sets": [set_name + "/"]}}])
    assert run.proc.returncode == 0, run.output()
    (forced,) = run.results
    assert forced["changed"] is True
    entry = forced["sets"][0]
    assert entry["set"] == set_name
    assert entry["action"] == "DIFF"
    assert entry["parent"] == full_id
    assert entry["reason"] == f"incremental on {full_id}"
    assert entry["slot"] == slot
    diff_id = entry["backup_id"]
    assert diff_id.startswith("20250303-") and diff_id.endswith("-diff") and diff_id != full_id
    # the DIFF holds the changes, not the 2 MiB random file again
    assert 0 < entry["bytes_read"] < MIB
    assert entry["chunks"] == 1
    assert entry["retired"] == []
    assert entry["after"] == {"restorable": [DAY, DAY], "fulls": 1, "diffs": 1}
    after = bucket_objects(client, bucket)
    assert set(after) - set(objects) == {
        f"{set_folder}{diff_id}/manifest.json",
        f"{set_folder}{diff_id}/chunk-000000.tar.zst.gpg",
        f"{set_folder}{diff_id}/index.txt.zst.gpg",
    }
    assert set(objects) <= set(after)  # the full is kept: the DIFF needs it
    assert_no_secret(run, secret)

    # (d) bad input: a date that does not exist and an unknown set (errors ignored), then a bucket that does not
    # exist: each task fails with one line naming the cause, and the play fails
    missing = "s3nb-missing-" + secrets.token_hex(6)
    bad_config = tmp_path / "missing-bucket.conf"
    write_config(
        bad_config,
        bucket=missing,
        diff_dir=tmp_path / "diffs-missing",
        source=source,
        gpg_keys=gpg_keys,
        s3_key_file=s3_key_file,
        s3_server=s3_server,
    )
    run = playbooks.run(
        [
            {"args": {**args, "date": "2025-02-30"}, "ignore_errors": True},
            {"args": {**args, "sets": ["/no/such/set"]}, "ignore_errors": True},
            {"args": {"config": str(bad_config), "date": DAY}},
        ]
    )
    assert run.proc.returncode == 2, run.output()
    bad_date, unknown_set, failure = run.results
    assert bad_date["failed"] is True
    assert bad_date["msg"] == "date: expected YYYY-MM-DD, got '2025-02-30'"
    assert unknown_set["failed"] is True
    assert unknown_set["msg"] == f"{config}: no set named '/no/such/set' in this config; known sets: {set_name}"
    for ignored in (bad_date, unknown_set):
        assert ignored["changed"] is False
        assert "sets" not in ignored
    assert run.proc.stdout.count("...ignoring") == 2
    assert failure["failed"] is True
    assert failure["changed"] is False
    msg = failure["msg"]
    assert f"s3://{missing} at " in msg and "does not exist; create the bucket or fix Bucket" in msg
    assert "\n" not in msg
    # an expected error: no traceback (ansible-core 2.19 fills in "(traceback unavailable)" when none is given)
    assert "Traceback" not in failure.get("exception", "")
    assert "sets" not in failure  # the preflight stopped before any set
    assert "fatal: [localhost]: FAILED!" in run.proc.stdout
    assert msg in run.proc.stdout
    assert "Traceback" not in run.proc.stdout + run.proc.stderr
    assert_no_secret(run, secret)
    assert bucket_objects(client, bucket) == after

    # the command restores the latest backup (FULL + DIFF) into exactly the changed tree
    restored = tmp_path / "restored"
    restore = run_cli(
        "restore",
        "-c",
        config,
        "--set",
        set_name,
        "--to",
        restored,
        "--gnupghome",
        gpg_keys.private_home,
        check=True,
    )
    expected = snapshot_tree(source)
    assert "to-delete.txt" not in expected and "new-folder/new.txt" in expected
    # like tar, the restore puts the set's absolute path under the target folder
    copy = restored / str(source).lstrip("/")
    assert copy.is_dir(), f"{copy} was not restored\n{restore.stdout}{restore.stderr}"
    assert snapshot_tree(copy) == expected
