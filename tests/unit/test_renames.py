# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which folder renames make a backup a FULL: read from a real GNU tar snapshot file and a real tree."""

from __future__ import annotations

import os
import subprocess

import pytest

from _s3napback.renames import interlocked_renames, snapshot_folders, tree_folders


def snapshot(tmp_path, root: str) -> str:
    path = str(tmp_path / "snar")
    subprocess.run(  # noqa: S603,S607
        ["tar", "--create", "--file=/dev/null", "--format=posix", f"--listed-incremental={path}", "-C", "/",
         root.lstrip("/")],
        check=True,
    )  # fmt: skip
    return path


@pytest.mark.parametrize(
    ("steps", "interlocked"),
    [
        ((), False),
        (("A", "C"), False),  # one folder renamed, its subfolders with it
        (("A", "B/A"), False),  # moved into another
        (("A/x", "x", "B", "renamed"), False),  # two that do not meet
        (("A", "swap", "B", "A", "swap", "B"), True),  # a swap
        (("A", "C", "B", "A"), True),  # a chain: current -> previous, new -> current
        (("A/x", "x", "A", "x/A"), True),  # a folder and its subfolder trade places
    ],
)
def test_interlocked_renames_from_a_real_snapshot(tmp_path, steps, interlocked):
    root = str(tmp_path / "set")
    for folder in ("A/x/deep", "B/y"):
        os.makedirs(os.path.join(root, folder))
    before = snapshot_folders(snapshot(tmp_path, root))
    assert before == tree_folders(root) and len(before) == 6
    for old, new in zip(steps[::2], steps[1::2]):
        os.rename(os.path.join(root, old), os.path.join(root, new))
    found = interlocked_renames(before, tree_folders(root))
    assert (found is not None) == interlocked, found


def test_an_unreadable_or_foreign_snapshot_lists_no_folders(tmp_path):
    assert snapshot_folders(str(tmp_path / "missing")) == {}
    (tmp_path / "old").write_bytes(b"GNU tar-1.20-1\n123\n")
    assert snapshot_folders(str(tmp_path / "old")) == {}
