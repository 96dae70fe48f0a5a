"""Naming a full disk: the statvfs check, which errors count as one, and how a restore puts them into words."""

import errno
import os

import pytest

from _s3napback import space
from _s3napback.errors import PipelineError, RestoreError
from _s3napback.restore import NoSpaceError, naming_a_full_disk

SHORT_WRITE = "tar exited with status 2: tar: data/big.bin: Wrote only 6656 of 10240 bytes"


class StatVfs:
    def __init__(self, free_blocks, free_inodes=1000, block=4096, inodes=5000):
        self.f_bavail, self.f_frsize, self.f_favail, self.f_files = free_blocks, block, free_inodes, inodes


@pytest.mark.parametrize(
    ("stat", "full"),
    [
        (StatVfs(free_blocks=10_000), False),
        (StatVfs(free_blocks=255), True),  # under 1 MiB
        (StatVfs(free_blocks=256), False),
        (StatVfs(free_blocks=10_000, free_inodes=0), True),
        (StatVfs(free_blocks=10_000, free_inodes=0, inodes=0), False),  # no inode count (btrfs): blocks decide
    ],
)
def test_disk_full(monkeypatch, stat, full):
    monkeypatch.setattr(space.os, "statvfs", lambda path: stat)
    assert space.disk_full("/anywhere") is full


def test_a_path_that_cannot_be_asked_is_not_full(tmp_path):
    assert space.disk_full(str(tmp_path / "missing")) is False


@pytest.mark.parametrize(
    ("error", "full_disk", "blamed"),
    [
        (PipelineError(SHORT_WRITE), True, True),
        (PipelineError("tar: x.snar.new: Cannot close: No space left on device"), True, True),
        (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), True, True),
        (PipelineError(SHORT_WRITE), False, False),  # a full disk elsewhere (gpg's home) is not blamed here
        (RestoreError("chunk-000003 failed its SHA-256 check"), True, False),  # nor damage on a full disk
        (OSError(errno.EACCES, os.strerror(errno.EACCES)), True, False),
    ],
)
def test_out_of_space_needs_the_words_and_a_full_disk(monkeypatch, error, full_disk, blamed):
    monkeypatch.setattr(space, "disk_full", lambda path: full_disk)
    assert space.out_of_space(error, "/restore") is blamed


def test_a_failure_on_a_full_disk_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(space, "disk_full", lambda path: True)
    with pytest.raises(NoSpaceError) as caught, naming_a_full_disk(str(tmp_path)):
        raise RestoreError(SHORT_WRITE)
    assert str(caught.value) == (
        f"{tmp_path}: No space left on device; free space there or restore to a bigger disk ({SHORT_WRITE})"
    )


def test_other_failures_pass_through_and_file_system_errors_become_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(space, "disk_full", lambda path: False)
    error = RestoreError("chunk-000001 failed its SHA-256 check")
    with pytest.raises(RestoreError) as caught, naming_a_full_disk(str(tmp_path)):
        raise error
    assert caught.value is error
    with pytest.raises(RestoreError) as caught, naming_a_full_disk(str(tmp_path)):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path / "x"))
    assert not isinstance(caught.value, NoSpaceError)
    assert str(caught.value) == f"restoring into {tmp_path} failed: Permission denied: {tmp_path / 'x'}"
    with pytest.raises(RestoreError) as caught, naming_a_full_disk(str(tmp_path)):
        raise OSError(errno.EPIPE, os.strerror(errno.EPIPE))  # no file name
    assert str(caught.value) == f"restoring into {tmp_path} failed: Broken pipe"
