# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which folder renames make a backup a FULL: read from a real GNU tar snapshot file and a real tree."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from _s3napback.renames import Snapshot, excluded, interlocked_renames, read_snapshot, tree_folders


def snapshot(tmp_path, root: str) -> str:
    path = str(tmp_path / "snar")
    subprocess.run(  # noqa: S603,S607
        ["tar", "--create", "--file=/dev/null", "--format=posix", f"--listed-incremental={path}", "-C", "/",
         "--exclude=*.bak", root.lstrip("/")],
        check=True,
    )  # fmt: skip
    return path


def mv(old: str, new: str) -> tuple:
    return ("mv", old, new)


def rm(path: str) -> tuple:
    return ("rm", path)


@pytest.mark.parametrize(
    ("steps", "interlocked"),
    [
        ((), False),
        ((mv("A", "C"),), False),  # one folder renamed, its subfolders with it
        ((mv("A", "B/A"),), False),  # moved into another
        ((mv("A/x", "x"), mv("B", "renamed")), False),  # two that do not meet
        # removed and made again; a leaf, so the new one gets its own inode back or a fresh one (the case of
        # another removed folder's inode is test_interlocked_renames_by_device_and_inode's)
        ((rm("A/x/deep"), ("mkdir", "A/x/deep")), False),
        ((mv("A", "swap"), mv("B", "A"), mv("swap", "B")), True),  # a swap
        ((mv("A", "C"), mv("B", "A")), True),  # a chain: current -> previous, new -> current
        ((mv("A/x", "x"), mv("A", "x/A")), True),  # a folder and its subfolder trade places
        ((rm("A"), mv("B", "A")), True),  # a folder replaces a removed one
        ((rm("f"), mv("B", "f")), True),  # a folder replaces a removed file
        ((mv("A/x/deep", "deep"), mv("A/x", "A/y")), True),  # leaves a folder renamed too
        ((rm("B"), ("ln", "B")), False),  # a folder replaced by a link (which may get the folder's inode)
        ((mv("A", "A.bak"),), False),  # renamed out of what tar sees (Exclude *.bak): it is gone, not renamed
        ((rm("C.bak"), mv("A", "C.bak")), False),  # the same, onto a name the snapshot lists (as excluded)
    ],
)
def test_interlocked_renames_from_a_real_snapshot(tmp_path, steps, interlocked):
    root = str(tmp_path / "set")
    for folder in ("A/x/deep", "B/y", "C.bak/z"):
        os.makedirs(os.path.join(root, folder))
    with open(os.path.join(root, "f"), "w") as handle:
        handle.write("f")
    before = read_snapshot(snapshot(tmp_path, root))
    assert before.folders == tree_folders(root, ["*.bak"]) and len(before.folders) == 6
    assert before.files == {root.strip("/") + "/f", root.strip("/") + "/C.bak"}  # tar lists what it leaves out
    for step in steps:
        path = os.path.join(root, step[1])
        if step[0] == "mv":
            os.rename(path, os.path.join(root, step[2]))
        elif step[0] == "rm":
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
        elif step[0] == "ln":
            os.symlink("A", path)
        else:
            os.mkdir(path)
    found = interlocked_renames(before, tree_folders(root, ["*.bak"]))
    assert (found is not None) == interlocked, found


BEFORE = Snapshot(folders={(1, 1): "s", (1, 2): "s/B", (1, 3): "s/B/y", (1, 4): "s/A"}, files={"s/f"})


@pytest.mark.parametrize(
    ("now", "interlocked"),
    [
        ({(1, 1): "s", (1, 4): "s/A", (1, 9): "s/B"}, False),  # rm -r B; mkdir B, with a fresh inode
        # the same, the new B given y's freed inode: tar takes it for y renamed to B, a name a folder had
        ({(1, 1): "s", (1, 4): "s/A", (1, 3): "s/B"}, True),
        ({(1, 1): "s", (1, 4): "s/A"}, False),  # rm -r B (a link in its place is no folder: see below)
        ({(1, 1): "s", (1, 2): "s/C", (1, 3): "s/C/y", (1, 4): "s/A"}, False),  # B renamed, y with it
        ({(1, 1): "s", (1, 2): "s/A", (1, 3): "s/A/y", (1, 4): "s/B"}, True),  # a swap
        ({(1, 1): "s", (1, 4): "s/A", (1, 3): "s/f"}, True),  # y onto the name of a removed file
    ],
)
def test_interlocked_renames_by_device_and_inode(now, interlocked):
    found = interlocked_renames(BEFORE, now)
    assert (found is not None) == interlocked, found


def test_a_link_to_a_folder_is_not_a_folder(tmp_path):
    root = tmp_path / "set"
    (root / "A").mkdir(parents=True)
    (root / "B").symlink_to("A")
    (root / "C").symlink_to(tmp_path)
    found = tree_folders(str(root))
    assert sorted(found.values()) == [str(root).strip("/"), str(root / "A").strip("/")]


def test_an_unreadable_or_foreign_snapshot_lists_no_folders(tmp_path):
    assert read_snapshot(str(tmp_path / "missing")).folders == {}
    (tmp_path / "old").write_bytes(b"GNU tar-1.20-1\n123\n")
    assert read_snapshot(str(tmp_path / "old")).folders == {}


@pytest.mark.parametrize(
    ("name", "patterns", "left_out"),
    [
        ("srv/www/cache", ["cache"], True),  # unanchored: any trailing components
        ("srv/www/cache/x", ["www/cache"], False),  # (tar never gets there: it does not enter srv/www/cache)
        ("srv/www/site.bak", ["*.bak"], True),
        ("srv/www/a/b", ["www/*"], True),  # * matches / as tar's default does
        ("srv/www/cache", ["/srv/www/cache"], True),
        ("srv/www/cached", ["cache"], False),
    ],
)
def test_excluded_as_tar_excludes(name, patterns, left_out):
    assert excluded(name, patterns) == left_out
