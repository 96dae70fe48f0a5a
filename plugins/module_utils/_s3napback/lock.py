# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One run at a time per host: an flock(2) on a file in DiffDir, released by the kernel if we die.

Taking the lock writes nothing: the file is created once and then only locked, so a backup's only write to
local disk stays the snapshot file. Who holds a lock is asked of the kernel (/proc/locks), which also names a
holder from an older version (those wrote their pid into the file, which is still read as a fallback).
"""

from __future__ import annotations

import fcntl
import os
import typing as t

from .errors import LockError, S3napbackError


class RunLock:
    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: t.Optional[int] = None

    def __enter__(self) -> RunLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise S3napbackError(
                f"cannot open the run lock {self.path}: {exc.strerror}; make DiffDir writable by this user"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = lock_holder(fd) or "unknown"
            os.close(fd)
            raise LockError(f"another s3napback run (pid {holder}) holds {self.path}; wait for it to finish") from None
        if os.fstat(fd).st_size:  # a pid an older version wrote: stale from now on, so not kept to mislead
            os.ftruncate(fd, 0)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None


def lock_holder(fd: int, locks_table: str = "/proc/locks") -> t.Optional[str]:
    """The pid holding an flock on the open file ``fd``: from the kernel's table of locks, else from what an
    older version wrote into the file; None when neither says."""
    st = os.fstat(fd)
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}"
    holders: t.Dict[str, str] = {}  # "MAJ:MIN:INODE" -> pid, of the flocks on files with our inode number
    try:
        with open(locks_table, encoding="ascii", errors="replace") as table:
            for line in table:
                # "1: FLOCK  ADVISORY  WRITE 3782 fe:00:2196424 0 EOF"; waiters' lines have "->" after the number
                fields = line.split()
                if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].endswith(f":{st.st_ino}"):
                    holders[fields[5]] = fields[4]
    except OSError:
        pass
    if f"{device}:{st.st_ino}" in holders:
        return holders[f"{device}:{st.st_ino}"]
    if len(holders) == 1:  # btrfs subvolumes and some overlays show another device number than fstat gives
        return next(iter(holders.values()))
    written = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    return written if written.isdigit() else None
