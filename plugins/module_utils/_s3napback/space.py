# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Did a write fail because the file system is full? Asked after a tool failed, to name the cause and the fix:
tar reports a full disk as "Wrote only 6656 of 10240 bytes" or "Cannot close: No space left on device", and
stops at its first short write, leaving less than a record free."""

from __future__ import annotations

import errno
import os

FULL_BELOW = 1 << 20  # free bytes under which a failed write is put down to a full file system

# what the tools print when a write fails for want of room (tar's short write says no more than "Wrote only")
WRITE_FAILURES = ("No space left on device", "Wrote only")


def disk_full(path: str) -> bool:
    """Whether the file system holding ``path`` has next to no room left, in blocks or in inodes. Free blocks
    are counted as an ordinary user sees them (root's reserve left out), which is what remains when root too
    was refused: ext4 keeps a further reserve even from root."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < FULL_BELOW or (st.f_files > 0 and st.f_favail == 0)


def out_of_space(error: BaseException, path: str) -> bool:
    """Whether ``error`` is a write refused for want of room on the file system holding ``path``: it must say
    so (ENOSPC, or a tool's words for it) and that file system must be full, so neither a damaged chunk on a
    nearly full disk nor a full disk elsewhere (gpg's home, say) is blamed on ``path``."""
    if isinstance(error, OSError):
        if error.errno != errno.ENOSPC:
            return False
    elif not any(words in str(error) for words in WRITE_FAILURES):
        return False
    return disk_full(path)
