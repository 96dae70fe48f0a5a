# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Folders renamed into each other's places since the last backup, which a DIFF must not carry.

GNU tar (1.34) records a folder renamed since the snapshot as a rename, found by its inode. When renames
interlock (two folders swap names, ``current`` becomes ``previous`` while ``new`` becomes ``current``, a folder
and its subfolder trade places), it records some of the subfolders' renames under names that no longer exist,
and extracting the DIFF then fails ("Cannot rename ... No such file or directory") and skips the deletions
recorded for that folder. Such a DIFF cannot be restored, so the backup is made a FULL instead.
"""

from __future__ import annotations

import os
import typing as t

Folders = t.Dict[int, str]  # inode -> the folder's name as tar stores it (relative to /)


def snapshot_folders(path: str) -> Folders:
    """The folders a GNU tar snapshot file (format 2) lists, by inode; empty when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return {}
    header, _newline, body = data.partition(b"\n")
    if not header.startswith(b"GNU tar-") or not header.endswith(b"-2"):
        return {}
    tokens = body.split(b"\0")[2:]  # after the snapshot's own time (seconds, nanoseconds)
    folders: Folders = {}
    position = 0
    while position + 6 <= len(tokens):
        if not tokens[position]:  # the empty entries that end a folder's list
            position += 1
            continue
        _nfs, _seconds, _nanoseconds, _device, inode, name = tokens[position : position + 6]
        try:
            folders[int(inode)] = os.fsdecode(name).strip("/")
        except ValueError:
            return {}
        position += 6
        while position < len(tokens) and tokens[position]:  # the folder's entries (Yname, Nname, Dname)
            position += 1
    return folders


def tree_folders(root: str) -> Folders:
    """The folders under ``root`` (itself included) now, by inode, named as tar stores them."""
    folders: Folders = {}
    try:
        folders[os.lstat(root).st_ino] = root.strip("/")
    except OSError:
        return folders
    for directory, subdirectories, _files in os.walk(root):
        for name in subdirectories:
            path = os.path.join(directory, name)
            try:
                folders[os.lstat(path).st_ino] = path.strip("/")
            except OSError:
                pass  # gone meanwhile: tar will not see it either
    return folders


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder + "/")


def _interlock(one: t.Tuple[str, str], other: t.Tuple[str, str]) -> bool:
    """Whether ``one`` (old, new) takes the place another left, or the two trade their nesting."""
    (old, new), (other_old, other_new) = one, other
    takes_place = new == other_old or _inside(new, other_old)
    trades_nesting = _inside(old, other_old) and _inside(other_new, new)
    return takes_place or trades_nesting


def interlocked_renames(before: Folders, now: Folders) -> t.Optional[str]:
    """ "OLD -> NEW and OLD -> NEW" for two renames that interlock, or None.

    A folder's own renames are those its parent's rename does not explain. Two of them interlock when one
    takes the place (the name, or a name inside it) the other left, or when the folder that held the other
    now lies inside it: swaps, chains (current -> previous, new -> current) and a folder trading places with
    its subfolder. tar takes a folder that got a removed one's inode for a renamed one; so does this.
    """
    moved_to = {before[inode]: now[inode] for inode in before.keys() & now.keys()}

    def explained(old: str, new: str) -> bool:
        parent, _sep, base = old.rpartition("/")
        new_parent, _sep, new_base = new.rpartition("/")
        return base == new_base and parent != "" and moved_to.get(parent, parent) == new_parent

    renames = sorted((old, new) for old, new in moved_to.items() if old != new and not explained(old, new))
    for one in renames:
        for other in renames:
            if one != other and _interlock(one, other):
                return f"{one[0]} -> {one[1]} and {other[0]} -> {other[1]}"
    return None
