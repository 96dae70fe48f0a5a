# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A full disk (a real one: a small tmpfs) gets one line naming it, commits nothing and loses nothing.

The snapshot folder full at a FULL (tar cannot write the snapshot file) and at a DIFF (the old snapshot file
cannot be copied), and a restore whose destination fills up: each fails with a one-line error, the bucket
holds no new backup, the old snapshot file is intact, and the destination is left as it was.
"""

from __future__ import annotations

import errno
import os
import subprocess

import pytest

from support.configs import config_for
from support.trees import assert_same_tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (CI runs as root)")

DAY1, DAY2 = "2024-03-04", "2024-03-05"


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a tmpfs of 4 MiB (more than the 1 MiB under which a file system counts as full);
    ``fill()`` then leaves no free block."""
    folder = tmp_path / "small"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "s3napback-test", folder], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", folder], check=True)


def fill(folder) -> None:
    """Write until the file system refuses: first in 64 KiB blocks, then byte by byte into the last block."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)


@pytest.fixture
def data(tmp_path):
    source = tmp_path / "data"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "random.bin").write_bytes(os.urandom(6 << 20))  # incompressible: more than the disk
    (source / "note.txt").write_text("payload\n")
    return source


def one_line_error(result, *words) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    errors = [line for line in (result.stderr + result.stdout).splitlines() if "No space left on device" in line]
    assert errors, f"no line names the full disk:\n{result.stdout}\n{result.stderr}"
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def test_full_snapshot_folder_at_a_full_commits_nothing(
    cli, tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data, small_disk
):
    diff_dir = small_disk / "diffs"
    diff_dir.mkdir()
    conf = config_for(tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data, diff_dir=diff_dir)
    fill(small_disk)
    result = cli("backup", "-c", conf, "--date", DAY1)
    assert result.returncode == 1  # the set failed
    one_line_error(result, f"DiffDir {diff_dir}: No space left on device; free space there", "snar.new")
    assert s3_server.manifest_keys(bucket) == []
    assert [n for n in os.listdir(diff_dir) if n.endswith((".snar", ".new"))] == []


def test_a_read_only_snapshot_folder_is_named_in_one_line(
    cli, tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data, small_disk
):
    """DiffDir that exists but cannot be written (a read-only mount): it used to end in an internal error."""
    diff_dir = small_disk / "diffs"
    diff_dir.mkdir()
    subprocess.run(["mount", "-o", "remount,ro", small_disk], check=True)
    conf = config_for(tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data, diff_dir=diff_dir)
    result = cli("backup", "-c", conf, "--date", DAY1)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == (
        f"s3napback: error: cannot open the run lock {diff_dir}/.s3napback.lock: Read-only file system; "
        "make DiffDir writable by this user"
    )
    assert s3_server.manifest_keys(bucket) == []


def test_full_snapshot_folder_at_a_diff_keeps_the_old_snapshot(
    cli, tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data, small_disk
):
    diff_dir = small_disk / "diffs"
    diff_dir.mkdir()
    conf = config_for(tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data, diff_dir=diff_dir)
    cli("backup", "-c", conf, "--date", DAY1, check=True)
    [first] = s3_server.manifest_keys(bucket)
    [snapshot] = [diff_dir / n for n in os.listdir(diff_dir) if n.endswith(".snar")]
    before = snapshot.read_bytes()
    (data / "new.txt").write_text("changed\n")
    fill(small_disk)
    result = cli("backup", "-c", conf, "--date", DAY2)
    assert result.returncode == 1
    one_line_error(
        result, f"DiffDir {diff_dir}: No space left on device; free space there (copying the snapshot file for the DIFF"
    )
    assert s3_server.manifest_keys(bucket) == [first]
    assert snapshot.read_bytes() == before
    assert not os.path.exists(str(snapshot) + ".new")
    os.unlink(small_disk / "filler")
    cli("backup", "-c", conf, "--date", DAY2, check=True)  # with room again, the DIFF is made
    assert len(s3_server.manifest_keys(bucket)) == 2


def test_restore_into_a_full_disk_leaves_the_destination_as_it_was(
    cli, tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data, small_disk
):
    conf = config_for(tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data)
    cli("backup", "-c", conf, "--date", DAY1, check=True)
    target = small_disk / "restored"
    target.mkdir()
    result = cli("restore", "-c", conf, "--set", data, "--to", target, "--gnupghome", gpg_keys.private_home)
    assert result.returncode == 6
    line = one_line_error(result, f"{target}: No space left on device; free space there or restore to a bigger disk")
    assert "Wrote only" in line  # tar's own words for it
    assert os.listdir(target) == []  # no staging folder, no half-restored file
    roomy = tmp_path / "roomy"
    roomy.mkdir()
    cli("restore", "-c", conf, "--set", data, "--to", roomy, "--gnupghome", gpg_keys.private_home, check=True)
    assert_same_tree(data, roomy / str(data).lstrip("/"))


def test_a_log_file_on_a_full_disk_is_named_once_and_the_backup_goes_on(
    cli, tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data, small_disk
):
    log_file = small_disk / "s3napback.log"
    extra = f"LogFile {log_file}\nLogLevel 3"
    conf = config_for(tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data, extra=extra)
    log_file.touch()
    fill(small_disk)
    result = cli("backup", "-c", conf, "--date", DAY1)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"s3napback: WARNING: LogFile {log_file}: cannot write to it (No space left on device); "
        "the rest of this run is not logged there"
    ]
    assert len(s3_server.manifest_keys(bucket)) == 1
