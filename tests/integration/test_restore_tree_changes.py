# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Restores across a DIFF whose tree changed shape: folders swapped, names that changed type, folders moved
out of a restored path, and --overwrite into a folder holding a link that leads elsewhere."""

from __future__ import annotations

import json
import os

import pytest

from support.trees import assert_same_tree, copy_tree, describe_tree


def write(root: str, relative: str, text: str) -> None:
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


@pytest.fixture
def changed_tree(tmp_path, make_config, cli):
    """A FULL on day one; on day two a DIFF after the changes; the tree as it was at each moment."""
    source = str(tmp_path / "data")
    for relative in ("P/p", "Q/q", "f2d", "d2f/inner", "d2l/inner", "keep/k", "M/x/f", "M/stay", "R/deep/r"):
        write(source, relative, relative + "\n")
    conf = make_config([source], chunk_size="64K")
    cli("backup", "-c", conf, "--date", "2026-03-01", check=True)
    day1 = str(tmp_path / "day1")
    copy_tree(source, day1)

    os.rename(os.path.join(source, "P"), os.path.join(source, "swap"))  # P and Q swap names
    os.rename(os.path.join(source, "Q"), os.path.join(source, "P"))
    os.rename(os.path.join(source, "swap"), os.path.join(source, "Q"))
    os.unlink(os.path.join(source, "f2d"))  # a file becomes a folder, a folder a file, a folder a link
    write(source, "f2d/now-a-folder", "new\n")
    for folder in ("d2f", "d2l"):
        os.unlink(os.path.join(source, folder, "inner"))
        os.rmdir(os.path.join(source, folder))
    write(source, "d2f", "now a file\n")
    os.symlink("keep", os.path.join(source, "d2l"))
    os.makedirs(os.path.join(source, "N"))  # moved out of M, and R's content into N
    os.rename(os.path.join(source, "M", "x"), os.path.join(source, "N", "x"))
    os.rename(os.path.join(source, "R", "deep"), os.path.join(source, "N", "deep"))
    [result] = json.loads(cli("backup", "-c", conf, "--date", "2026-03-02", "--json", check=True).stdout)
    assert result["action"] == "DIFF"
    return conf, source, day1


def restore(cli, conf, source, dest, gpg_keys, *extra, cwd=None, check=True):
    return cli("restore", "-c", conf, "--set", source, "--to", dest, "--gnupghome", gpg_keys.private_home,
               *extra, cwd=cwd, check=check)  # fmt: skip


def test_whole_restores_of_both_moments_run_from_anywhere(changed_tree, tmp_path, gpg_keys, cli):
    """GNU tar passes a swap through a temporary folder it makes relative to its working directory: run from
    /, it used to make that folder in the live source tree, and from elsewhere, to fail."""
    conf, source, day1 = changed_tree
    before = describe_tree(source)
    for cwd in ("/", str(tmp_path)):
        dest = tmp_path / f"latest-from-{cwd.replace('/', '_')}"
        restore(cli, conf, source, dest, gpg_keys, cwd=cwd)
        assert_same_tree(source, str(dest) + source)
    assert describe_tree(source) == before  # nothing written into the source
    first = tmp_path / "first"
    restore(cli, conf, source, first, gpg_keys, "--at", "2026-03-01")
    assert_same_tree(day1, str(first) + source)


@pytest.mark.parametrize("path", ["f2d", "d2f", "d2l"])
def test_path_whose_type_changed_comes_back_as_it_was_at_the_moment(changed_tree, tmp_path, gpg_keys, cli, path):
    conf, source, _day1 = changed_tree
    dest = tmp_path / "part"
    restore(cli, conf, source, dest, gpg_keys, "--path", path)  # the FULL's file or folder, then the DIFF's
    root = str(dest) + source
    assert os.listdir(root) == [path]
    if path == "f2d":  # a folder now
        assert_same_tree(os.path.join(source, path), os.path.join(root, path))
    else:
        assert_same_tree(source, root, only=[path])


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("M", {"M", "M/stay"}),  # x was moved out of M on day two: not brought along
        ("R", {"R"}),
        ("N", {"N", "N/x", "N/x/f", "N/deep", "N/deep/r"}),  # and no empty M or R left behind
        ("N/x", {"N", "N/x", "N/x/f"}),
    ],
)
def test_path_gets_what_it_held_at_the_moment_and_nothing_moved_out(
    changed_tree, tmp_path, gpg_keys, cli, path, expected
):
    conf, source, _day1 = changed_tree
    dest = tmp_path / "part"
    restore(cli, conf, source, dest, gpg_keys, "--path", path)
    root = str(dest) + source
    found = {os.path.relpath(os.path.join(d, n), root) for d, dirs, files in os.walk(root) for n in dirs + files}
    assert found == expected
    assert_same_tree(os.path.join(source, path), os.path.join(root, path))


def test_overwrite_refuses_a_link_leading_out_of_the_destination(changed_tree, tmp_path, gpg_keys, cli):
    conf, source, _day1 = changed_tree
    dest, elsewhere = tmp_path / "dest", tmp_path / "elsewhere"
    dest.mkdir()
    elsewhere.mkdir()
    first = source.strip("/").split("/")[0]  # the set's path starts with this folder: make it a link out
    os.symlink(elsewhere, dest / first)
    result = restore(cli, conf, source, dest, gpg_keys, "--overwrite", check=False)
    assert result.returncode == 6
    assert result.stderr.strip() == (
        f"s3napback: error: {dest / first} is a symbolic link to {elsewhere}, outside the destination; "
        "remove it, or restore into an empty folder"
    )
    assert os.listdir(elsewhere) == []
    # a link that stays inside the destination is followed, as tar does
    os.unlink(dest / first)
    (dest / "inside").mkdir()
    os.symlink("inside", dest / first)
    restore(cli, conf, source, dest, gpg_keys, "--overwrite")
    assert_same_tree(source, str(dest / "inside") + source[len(first) + 1 :])
