# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The member index, byte ranges and rename tracking of partial restores (pure logic; real tar where it
matters: the index and the dumpdirs are made by GNU tar itself)."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile

import pytest

from _s3napback.catalog import Chunk
from _s3napback.errors import RestoreError
from _s3napback.members import (
    CYCLE_PLACE,
    Member,
    chunks_for,
    exists_in,
    final_name,
    member_at,
    member_path,
    names_before,
    parse_dumpdirs,
    parse_index,
    ranges_of,
    renames_in,
    select,
    slices_in,
    unescape,
)


def test_unescape_undoes_tars_escape_style():
    assert unescape(b"a\\nb\\tc\\\\d") == "a\nb\tc\\d"
    assert unescape(b"caf\\303\\251") == "café"
    assert unescape(b"plain name") == "plain name"
    assert unescape(b"\\377") == os.fsdecode(b"\xff")


def _tar_with_index(tmp_path, snapshot="snap"):
    """Archive tmp_path/src with GNU tar as a backup does; return the archive and its member index."""
    index = tmp_path / "index.txt"
    archive = tmp_path / "out.tar"
    subprocess.run(  # noqa: S603,S607
        [
            "bash",
            "-c",
            'tar "$@" 3>"$0" 2>/dev/null',
            str(index),
            "--create",
            "--format=posix",
            f"--listed-incremental={tmp_path / snapshot}",
            "-C",
            str(tmp_path),
            "--verbose",
            "--block-number",
            "--index-file=/dev/fd/3",
            "--quoting-style=escape",
            "-f",
            str(archive),
            "src",
        ],  # fmt: skip
        check=True,
    )
    return archive.read_bytes(), index.read_bytes()


def test_index_from_real_tar_cuts_the_stream_into_its_members(tmp_path):
    src = tmp_path / "src" / "sub"
    src.mkdir(parents=True)
    (src / "a file").write_bytes(b"x" * 1000)
    (src / "odd\nname").write_bytes(b"y" * 10)
    archive, text = _tar_with_index(tmp_path)
    members = parse_index(text, len(archive))
    names = [m.name for m in members]
    assert names == ["src", "src/sub", "src/sub/a file", "src/sub/odd\nname"]
    assert [m.is_dir for m in members] == [True, True, False, False]
    # each member ends where the next starts, and its bytes are a valid archive of just that member
    assert all(a.end == b.start for a, b in zip(members, members[1:]))
    one = members[2]
    piece = archive[one.start : one.end] + bytes(1024)
    [info] = tarfile.open(fileobj=io.BytesIO(piece)).getmembers()
    assert info.name == "src/sub/a file" and info.size == 1000


def test_selection_ranges_and_chunks():
    members = [
        Member(0, 1536, "set", True),
        Member(1536, 3072, "set/a", True),
        Member(3072, 4608, "set/b", True),
        Member(4608, 9216, "set/a/f1", False),
        Member(9216, 12288, "set/b/f2", False),
        Member(12288, 13824, "set/a/f3", False),
    ]
    chosen = select(members, ["set/a"], with_parents=False)
    assert [m.name for m in chosen] == ["set/a", "set/a/f1", "set/a/f3"]
    assert [m.name for m in select(members, ["set/a/f1"], with_parents=True)] == ["set", "set/a", "set/a/f1"]
    assert ranges_of(chosen) == [(1536, 3072), (4608, 9216), (12288, 13824)]
    assert ranges_of(members[3:5]) == [(4608, 12288)]  # adjacent members merge
    chunks = [Chunk(i, f"c{i}", i * 4096, 4096, 100, "") for i in range(4)]
    assert [c.index for c in chunks_for(chunks, [(4608, 9216)])] == [1, 2]
    assert slices_in(chunks[1], [(4608, 9216)]) == [(512, 4096)]
    assert slices_in(chunks[2], [(4608, 9216)]) == [(0, 1024)]
    assert member_at(members, 8192).name == "set/a/f1" and member_at(members, 4608) is None


def test_paths_are_absolute_or_inside_the_set():
    assert member_path("/srv/data/x/y", "/srv/data") == "srv/data/x/y"
    assert member_path("x/../y", "/srv/data") == "srv/data/y"
    assert member_path("/srv/data", "/srv/data") == "srv/data"


def test_renames_from_real_tar_dumpdirs_map_names_back(tmp_path):
    (tmp_path / "src" / "old" / "deep").mkdir(parents=True)
    (tmp_path / "src" / "old" / "deep" / "f").write_text("f")
    (tmp_path / "src" / "keep").mkdir()
    _tar_with_index(tmp_path)
    os.rename(tmp_path / "src" / "old", tmp_path / "src" / "new")
    archive, text = _tar_with_index(tmp_path)
    members = parse_index(text, len(archive))
    folders = [m for m in members if m.is_dir]
    data = b"".join(archive[m.start : m.end] for m in folders) + bytes(1024)
    dumpdirs = parse_dumpdirs(data)
    renames = renames_in(dumpdirs)
    assert [(s, d) for _owner, s, d in renames] == [("src/old", "src/new")]
    assert names_before(["src/new/deep/f"], renames) == ["src/old/deep/f"]
    assert names_before(["src"], renames) == ["src"]
    assert names_before(["src/keep"], renames) == ["src/keep"]
    assert exists_in("src/new/deep", members, dumpdirs)
    assert exists_in("src/keep", members, dumpdirs)
    assert not exists_in("src/old", members, dumpdirs)


def test_moved_into_a_wanted_folder_is_wanted_under_its_old_name():
    renames = [("set", "set/elsewhere/x", "set/wanted/x")]
    assert names_before(["set/wanted"], renames) == ["set/wanted", "set/elsewhere/x"]


def test_folders_swapped_in_a_cycle_map_back_through_tars_temporary_place(tmp_path):
    for name in ("P", "Q"):
        (tmp_path / "src" / name).mkdir(parents=True)
        (tmp_path / "src" / name / name.lower()).write_text(name)
    _tar_with_index(tmp_path)
    os.rename(tmp_path / "src" / "P", tmp_path / "src" / "swap")
    os.rename(tmp_path / "src" / "Q", tmp_path / "src" / "P")
    os.rename(tmp_path / "src" / "swap", tmp_path / "src" / "Q")
    archive, text = _tar_with_index(tmp_path)
    folders = [m for m in parse_index(text, len(archive)) if m.is_dir]
    renames = renames_in(parse_dumpdirs(b"".join(archive[m.start : m.end] for m in folders) + bytes(1024)))
    place = "src/" + CYCLE_PLACE + "1"
    steps = [(s, d) for _owner, s, d in renames]
    assert sorted(steps) == sorted([("src/Q", place), ("src/P", "src/Q"), (place, "src/P")]) or sorted(steps) == sorted(
        [("src/P", place), ("src/Q", "src/P"), (place, "src/Q")]
    )
    assert names_before(["src/P/q"], renames) == ["src/Q/q"]
    assert names_before(["src/Q"], renames) == ["src/P"]
    into_place = next(i for i, (_s, d) in enumerate(steps) if d == place)  # the place is only a step
    assert final_name(place, renames[into_place + 1 :]) == next(d for s, d in steps if s == place)


def test_a_cycle_without_its_place_is_refused_clearly():
    with pytest.raises(RestoreError, match="rename cycle without its place"):
        renames_in({"set": ["Rset/a", "T"]})
