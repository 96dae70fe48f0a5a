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

import fnmatch
import os
import stat
import typing as t
from dataclasses import dataclass, field

from .members import inside

Key = t.Tuple[int, int]  # device and inode, as tar tells folders apart (inodes repeat across file systems)
Folders = t.Dict[Key, str]  # a folder's name as tar stores it (relative to /)


@dataclass
class Snapshot:
    folders: Folders = field(default_factory=dict)
    files: t.Set[str] = field(default_factory=set)  # the names of what else the folders held


def read_snapshot(path: str) -> Snapshot:
    """The folders a GNU tar snapshot file (format 2) lists, and their files; empty when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return Snapshot()
    header, _newline, body = data.partition(b"\n")
    if not header.startswith(b"GNU tar-") or not header.endswith(b"-2"):
        return Snapshot()
    tokens = body.split(b"\0")[2:]  # after the snapshot's own time (seconds, nanoseconds)
    snapshot = Snapshot()
    position = 0
    while position + 6 <= len(tokens):
        if not tokens[position]:  # the empty entries that end a folder's list
            position += 1
            continue
        _nfs, _seconds, _nanoseconds, device, inode, name = tokens[position : position + 6]
        try:
            folder = os.fsdecode(name).strip("/")
            snapshot.folders[(int(device), int(inode))] = folder
        except ValueError:
            return Snapshot()
        position += 6
        while position < len(tokens) and tokens[position]:  # its entries: Yname, Nname (files), Dname
            entry = os.fsdecode(tokens[position])
            if entry[:1] in ("Y", "N"):
                snapshot.files.add(f"{folder}/{entry[1:]}")
            position += 1
    return snapshot


def excluded(name: str, patterns: t.Sequence[str]) -> bool:
    """Whether tar's ``--exclude`` leaves out the member ``name``: unanchored by default, a pattern matches any
    trailing run of its components, and its ``*`` matches ``/`` as well (as fnmatch's does)."""
    parts = name.split("/")
    candidates = ["/" + name] + ["/".join(parts[i:]) for i in range(len(parts))]
    return any(fnmatch.fnmatchcase(candidate, pattern.rstrip("/")) for pattern in patterns for candidate in candidates)


def tree_folders(root: str, excludes: t.Sequence[str] = ()) -> Folders:
    """The folders under ``root`` (itself included) that tar sees now, named as tar stores them."""
    folders: Folders = {}
    try:
        st = os.lstat(root)
    except OSError:
        return folders
    folders[(st.st_dev, st.st_ino)] = root.strip("/")
    for directory, subdirectories, _files in os.walk(root):
        for name in list(subdirectories):
            path = os.path.join(directory, name)
            if excluded(path.strip("/"), excludes):
                subdirectories.remove(name)  # tar neither stores nor enters it
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue  # gone meanwhile: tar will not see it either
            if stat.S_ISDIR(st.st_mode):  # os.walk lists links to folders among them: tar stores those as links
                folders[(st.st_dev, st.st_ino)] = path.strip("/")
    return folders


def _interlock(one: t.Tuple[str, str], other: t.Tuple[str, str]) -> bool:
    """Whether ``one`` (old, new) takes a place inside one the other left, or leaves one the other renamed (tar
    may then replay it under the other's new name)."""
    (old, new), (other_old, _other_new) = one, other
    return inside(new, other_old) or inside(old, other_old)


def interlocked_renames(before: Snapshot, now: Folders) -> t.Optional[str]:
    """What makes the renames since ``before`` unrestorable from a DIFF, or None.

    A folder's own renames are those its parent's rename does not explain. One is a problem when it takes a
    name that another folder or a file had (a swap, ``current`` -> ``previous`` with ``new`` -> ``current``,
    a folder replacing a removed one), or a name inside a folder another rename moved away, or when it leaves
    a folder that is renamed too. tar takes a folder that got a removed one's inode for a renamed one; so does
    this.
    """
    moved_to = {before.folders[key]: now[key] for key in before.folders.keys() & now.keys()}
    folder_names = set(before.folders.values())

    def explained(old: str, new: str) -> bool:
        parent, _sep, base = old.rpartition("/")
        new_parent, _sep, new_base = new.rpartition("/")
        return base == new_base and parent != "" and moved_to.get(parent, parent) == new_parent

    renames = sorted((old, new) for old, new in moved_to.items() if old != new and not explained(old, new))
    for one in renames:
        old, new = one
        if new in folder_names or new in before.files:
            return f"{old} -> {new}, a name {'a folder' if new in folder_names else 'something else'} had"
        for other in renames:
            if one != other and _interlock(one, other):
                return f"{old} -> {new} and {other[0]} -> {other[1]}"
    return None
