# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Is a file system full? Asked after a tool failed, to name the cause: tar reports a full disk as "Wrote only
6656 of 10240 bytes" or "Cannot close", and stops at its first short write, leaving less than a record free."""

from __future__ import annotations

import os

FULL_BELOW = 1 << 20  # free bytes under which a failed write is put down to a full file system


def disk_full(path: str) -> bool:
    """Whether the file system holding ``path`` has next to no room left for us, in blocks or in inodes."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < FULL_BELOW or (st.f_files > 0 and st.f_favail == 0)
