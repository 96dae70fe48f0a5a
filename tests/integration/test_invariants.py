# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DESIGN.md's invariants 1-4 and 6, each against the real S3 server, real tar, zstd and gpg."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from support.cli import cli_env, fake_tool, start_cli, wait_while_running
from support.configs import write_config
from support.trees import assert_same_tree, copy_tree, make_tree

DAY1, DAY2, DAY3 = "2026-05-04", "2026-05-05", "2026-05-06"


@pytest.fixture
def setup(tmp_path, bucket, s3_server, s3_key_file, gpg_keys):
    source = str(tmp_path / "data")
    make_tree(source, files=300, total_bytes=6 * 1024 * 1024, seed=7)

    class Setup:
        pass

    s = Setup()
    s.tmp, s.source, s.bucket, s.keys, s.client = tmp_path, source, bucket, gpg_keys, s3_server.client()
    s.diff_dir = tmp_path / "diffs"
    s.conf = write_config(
        tmp_path / "s3napback.conf",
        bucket=bucket,
        endpoint=s3_server.endpoint,
        key_file=s3_key_file,
        diff_dir=s.diff_dir,
        directories=[source],
        recipient=gpg_keys.email,
        keyring=gpg_keys.public_home,
        chunk_size="256K",
    )
    s.snapshot = s.diff_dir / ("%2F" + source.lstrip("/").replace("/", "%2F") + ".snar")
    return s


def keys_in(s) -> list[str]:
    pages = s.client.get_paginator("list_objects_v2").paginate(Bucket=s.bucket)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def manifests(s) -> list[str]:
    return [k for k in keys_in(s) if k.endswith("/manifest.json")]


def sha(path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def backup(cli, s, day, *extra):
    """One backup run that must succeed; returns its per-set results."""
    return json.loads(cli("backup", "-c", s.conf, "--date", day, "--json", *extra, check=True).stdout)


def restore_and_compare(cli, s, expected_tree, at="latest", name="r"):
    target = s.tmp / f"{name}-{at}"
    cli("restore", "-c", s.conf, "--set", s.source, "--at", at, "--to", target,
        "--gnupghome", s.keys.private_home, check=True)  # fmt: skip
    assert_same_tree(expected_tree, str(target) + s.source)


def start_slow_second_run(s, seed: int, chunks: int) -> tuple[subprocess.Popen, set[str]]:
    """Add 30 MB to the source and start the day-2 backup, slowed down by a gpg that sleeps; return once
    ``chunks`` of its chunks are in the bucket, with the keys that were there before it."""
    make_tree(os.path.join(s.source, "more"), files=50, total_bytes=30 * 1024 * 1024, seed=seed)
    env = fake_tool(s.tmp, "gpg", 'case "$*" in *--encrypt*) sleep 0.3;; esac\nexec REAL "$@"\n')
    before = set(keys_in(s))
    process = start_cli("backup", "-c", s.conf, "--date", DAY2, env=env)
    wait_while_running(process, lambda: len(set(keys_in(s)) - before) >= chunks, f"{chunks} chunks uploaded")
    return process, before


def test_manifest_is_the_commit_and_kill_9_leaves_earlier_backups(cli, setup):
    s = setup
    backup(cli, s, DAY1)
    moment1 = str(s.tmp / "moment1")
    copy_tree(s.source, moment1)
    snapshot_before = sha(s.snapshot)
    # a second run, killed with SIGKILL once chunks are in the bucket
    process, before = start_slow_second_run(s, seed=8, chunks=3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    leftovers = set(keys_in(s)) - before
    assert leftovers and not any(k.endswith("manifest.json") for k in leftovers)
    assert len(manifests(s)) == 1
    assert sha(s.snapshot) == snapshot_before  # the committed snapshot file was never touched

    listing = cli("list", "-c", s.conf, "--json", check=True)
    kinds = sorted(row["kind"] for row in json.loads(listing.stdout))
    assert kinds == ["FULL", "INCOMPLETE"]
    restore_and_compare(cli, s, moment1, name="after-kill")

    # the next run removes the leftovers and makes the DIFF the killed run should have made
    [result] = backup(cli, s, DAY2)
    assert result["action"] == "DIFF" and len(result["leftovers_removed"]) == 1
    assert not (leftovers & set(keys_in(s)))
    restore_and_compare(cli, s, s.source, name="after-rerun")


def running_with(text: str) -> list[str]:
    """Command lines of the processes that name ``text`` (the backup's tar, zstd, gpg and the command)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                line = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in line and int(pid) != os.getpid():
            found.append(line)
    return found


@pytest.mark.parametrize(
    ("sig", "code", "said"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated (SIGTERM)")],
)
def test_interrupted_or_terminated_backup_cleans_up_at_once(cli, setup, sig, code, said):
    """Ctrl-C, or SIGTERM from systemd stopping the service: what the run uploaded is removed before it exits,
    the snapshot file is rolled back, no tool is left running, and the next run makes the backup."""
    s = setup
    backup(cli, s, DAY1)
    snapshot_before = sha(s.snapshot)
    process, before = start_slow_second_run(s, seed=9, chunks=2)
    process.send_signal(sig)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert err.splitlines()[-1] == f"s3napback: {said}; nothing was committed by the interrupted step"
    assert "Traceback" not in err
    assert set(keys_in(s)) == before  # removed at once, not left for the next run
    assert sha(s.snapshot) == snapshot_before
    assert not os.path.exists(str(s.snapshot) + ".new")
    deadline = time.monotonic() + 10
    while running_with(str(s.source)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running_with(str(s.source)) == []
    [result] = backup(cli, s, DAY2)
    assert result["action"] == "DIFF" and result["leftovers_removed"] == []
    restore_and_compare(cli, s, s.source, name=f"after-{sig.name}")


@pytest.mark.parametrize(
    ("tool", "script", "named"),
    [
        # tar dies halfway through the archive
        ("tar", 'REAL "$@" | head -c 300000\nexit 2\n', "tar exited with status 2"),
        # gpg starts encrypting, then fails (as with a full disk or a broken key)
        (
            "gpg",
            'case "$*" in *--encrypt*) head -c 1000 >/dev/null; echo "gpg: simulated failure" >&2; exit 2;; esac\n'
            'exec REAL "$@"\n',
            "gpg exited with status 2",
        ),  # fmt: skip
        # zstd is killed
        ("zstd", 'REAL "$@" &\nsleep 0.2\nkill -9 $!\nexit 137\n', "zstd"),
    ],
)
def test_failing_stage_commits_nothing_and_rolls_back_snapshot(cli, setup, tool, script, named):
    s = setup
    backup(cli, s, DAY1)
    snapshot_before = sha(s.snapshot)
    objects_before = keys_in(s)
    with open(os.path.join(s.source, "changed.txt"), "w") as handle:
        handle.write("day two\n")

    failed = cli("backup", "-c", s.conf, "--date", DAY2, env=fake_tool(s.tmp, tool, script))
    assert failed.returncode != 0
    assert "FAILED" in failed.stdout and named in failed.stdout, failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr
    assert keys_in(s) == objects_before  # nothing committed, nothing left behind
    assert sha(s.snapshot) == snapshot_before
    assert not os.path.exists(str(s.snapshot) + ".new")

    # with the real tool again: a DIFF that contains the change (the snapshot was rolled back)
    [result] = backup(cli, s, DAY2)
    assert result["action"] == "DIFF"
    restore_and_compare(cli, s, s.source)


def test_lost_snapshot_file_gives_full(cli, setup):
    s = setup
    backup(cli, s, DAY1)
    os.unlink(s.snapshot)
    [result] = backup(cli, s, DAY2)
    assert result["action"] == "FULL" and "snapshot" in result["reason"]
    restore_and_compare(cli, s, s.source)


def test_missing_base_gives_full(cli, setup):
    s = setup
    [first] = backup(cli, s, DAY1)
    [second] = backup(cli, s, DAY2)
    assert second["action"] == "DIFF"
    # someone deleted the FULL from the bucket: a DIFF on top of the chain would be unrestorable
    s.client.delete_object(Bucket=s.bucket, Key=[k for k in manifests(s) if first["backup_id"] in k][0])
    [third] = backup(cli, s, DAY3)
    assert third["action"] == "FULL" and "incomplete" in third["reason"]
    restore_and_compare(cli, s, s.source)


def test_second_run_same_day_does_nothing_unless_forced(cli, setup):
    s = setup
    backup(cli, s, DAY1)
    objects = keys_in(s)
    [again] = backup(cli, s, DAY1)
    assert again["action"] == "SKIP" and keys_in(s) == objects
    [forced] = backup(cli, s, DAY1, "-f")
    assert forced["action"] == "DIFF" and len(manifests(s)) == 2


def test_test_mode_uploads_nothing(cli, setup):
    s = setup
    out = cli("backup", "-t", "-c", s.conf, "--date", DAY1, check=True)
    assert "would make a FULL" in out.stdout
    assert keys_in(s) == [] and not os.path.exists(s.snapshot)


def test_replace_then_retire_keeps_chains(cli, setup):
    """Diffs 2, Fulls 1: two slots. Each new backup replaces a slot's occupant only after it committed, and the
    FULL a retained DIFF needs stays until that DIFF is gone."""
    s = setup
    with open(s.conf) as handle:
        text = handle.read().replace("Diffs 7", "Diffs 2").replace("Fulls 2", "Fulls 1")
    with open(s.conf, "w") as handle:
        handle.write(text)
    days = ["2026-05-04", "2026-05-05", "2026-05-06", "2026-05-07", "2026-05-08"]
    results = []
    for day in days:
        with open(os.path.join(s.source, "daily.txt"), "w") as handle:
            handle.write(day)
        [result] = backup(cli, s, day)
        results.append(result)
        rows = json.loads(cli("list", "-c", s.conf, "--json", check=True).stdout)
        by_id = {r["backup_id"]: r for r in rows}
        for row in rows:  # every retained DIFF still has its base
            if row["kind"] == "DIFF":
                assert row["base"] in by_id
        assert result["backup_id"] in by_id
        assert len(rows) <= 3  # slots (2) + cycle length (2) - 1
    retired = [r for result in results for r in result["retired"]]
    assert retired, "rotation never retired anything"
    remaining = {m.split("/")[-2] for m in manifests(s)}
    assert not remaining & set(retired)
    assert all(not any(r in k for k in keys_in(s)) for r in retired)  # chunks went too, not just manifests
    restore_and_compare(cli, s, s.source)


def test_lock_stops_overlapping_runs(cli, setup):
    s = setup
    os.makedirs(s.diff_dir, exist_ok=True)
    lock_path = s.diff_dir / ".s3napback.lock"
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as a run holds it: nothing written into the file
        blocked = cli("backup", "-c", s.conf, "--date", DAY1)
    assert blocked.returncode == 5
    # the holder is named by the kernel's table of locks
    assert f"another s3napback run (pid {os.getpid()}) holds {lock_path}" in blocked.stderr
    assert keys_in(s) == []
    backup(cli, s, DAY1)  # released: runs
    assert os.path.getsize(lock_path) == 0  # a run locks the file and writes nothing to it


def test_config_on_stdin_without_command(cli, setup):
    """The seed's usage: ``s3napback < FILE``."""
    s = setup
    with open(s.conf) as handle:
        result = cli("-t", "--date", DAY1, input=handle.read())
    assert result.returncode == 0, result.stderr
    assert "would make a FULL" in result.stdout


def test_progress_line_on_a_terminal_only(cli, setup):
    """On an interactive terminal a progress line is redrawn on stderr; in a pipe (cron, logs) there is none."""
    import pty

    s = setup
    env = cli_env(fake_tool(s.tmp, "gpg", 'case "$*" in *--encrypt*) sleep 0.4;; esac\nexec REAL "$@"\n'))
    primary, secondary = pty.openpty()
    argv = [sys.executable, "-m", "_s3napback", "backup", "-c", s.conf, "--date", DAY1]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=secondary)  # noqa: S603
    os.close(secondary)
    seen = b""
    while True:
        try:
            block = os.read(primary, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not block:
            break
        seen += block
    process.wait()
    os.close(primary)
    assert process.returncode == 0
    text = seen.decode(errors="replace")
    assert "\r" in text and "read " in text and "stored " in text and "/s" in text, text
    # the same run in a pipe: no progress line at all
    [result] = backup(cli, s, DAY2)
    piped = cli("backup", "-c", s.conf, "--date", DAY3, check=True)
    assert "\r" not in piped.stderr and result["action"] == "DIFF"
