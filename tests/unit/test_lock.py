"""The run lock: who holds it, and that taking it writes nothing."""

import fcntl
import os
import subprocess
import sys

import pytest

from _s3napback.errors import LockError
from _s3napback.lock import RunLock, lock_holder

HOLD = (
    "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
    "print('held', flush=True); sys.stdin.read()"
)


def test_a_held_lock_names_the_holding_process(tmp_path):
    path = tmp_path / ".s3napback.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(LockError) as caught, RunLock(str(path)):
            pass
        assert str(caught.value) == f"another s3napback run (pid {holder.pid}) holds {path}; wait for it to finish"
    finally:
        holder.communicate("")
    with RunLock(str(path)):  # released when its holder exited
        pass


def test_taking_the_lock_writes_nothing(tmp_path):
    path = tmp_path / ".s3napback.lock"
    with RunLock(str(path)):
        pass
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    with RunLock(str(path)) as lock:
        assert lock.fd is not None
        with open(path, "rb") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # it is held
    st = os.stat(path)
    assert (st.st_size, st.st_mtime_ns) == (0, 1_000_000_000)


def test_holder_falls_back_to_the_pid_an_older_version_wrote(tmp_path):
    path = tmp_path / ".s3napback.lock"
    path.write_text("4242\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert lock_holder(fd, locks_table=str(tmp_path / "no-such-table")) == "4242"
        path.write_text("")
        assert lock_holder(fd, locks_table=str(tmp_path / "no-such-table")) is None
    finally:
        os.close(fd)


def test_holder_found_by_inode_when_the_device_numbers_differ(tmp_path):
    """btrfs subvolumes (and some overlays) show /proc/locks another device number than fstat gives."""
    path = tmp_path / ".s3napback.lock"
    path.write_text("")
    inode = os.stat(path).st_ino
    table = tmp_path / "locks"
    fd = os.open(path, os.O_RDONLY)
    try:
        table.write_text(
            f"1: POSIX  ADVISORY  WRITE 11 00:01:{inode} 0 EOF\n2: FLOCK  ADVISORY  WRITE 4711 00:2f:{inode} 0 EOF\n"
        )
        assert lock_holder(fd, locks_table=str(table)) == "4711"
        with open(table, "a") as more:  # two candidates on other devices: no guess
            more.write(f"3: FLOCK  ADVISORY  WRITE 4712 00:30:{inode} 0 EOF\n")
        assert lock_holder(fd, locks_table=str(table)) is None
    finally:
        os.close(fd)


def test_taking_the_lock_clears_a_pid_an_older_version_left(tmp_path):
    path = tmp_path / ".s3napback.lock"
    path.write_text("4242\n")
    with RunLock(str(path)):
        pass
    assert path.read_bytes() == b""
