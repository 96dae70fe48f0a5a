# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tar's member index, and which byte ranges of the archive stream hold some paths.

At backup time tar writes ``block N: NAME`` for every member (``--verbose --block-number
--quoting-style=escape``), N being where the member's first header (its pax header, if any) starts, in
512-byte blocks. A member ends where the next one starts, so the index cuts the stream into members. A
partial restore feeds tar only the members it wants, followed by an end-of-archive marker: tar sees a
smaller, valid archive, and only the chunks holding those bytes are downloaded.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
import typing as t
from dataclasses import dataclass

from .catalog import Chunk
from .errors import RestoreError

BLOCK = 512
END_OF_ARCHIVE = bytes(2 * BLOCK)  # two zero blocks end a tar archive
_LINE = re.compile(rb"^block (\d+): (.*)$")
_ESCAPES = {ord(k): v for k, v in {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}.items()}
_OCTAL = b"01234567"


@dataclass(frozen=True)
class Member:
    start: int  # byte offset of its first header in the uncompressed stream
    end: int  # where the next member (or the end of the archive) starts
    name: str  # as stored, without a trailing "/"
    is_dir: bool


def unescape(raw: bytes) -> str:
    """Undo tar's ``escape`` quoting style (\\n, \\t, \\\\, octal \\ooo ...); names may be any bytes."""
    out = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x5C and i + 1 < len(raw):  # backslash
            following = raw[i + 1]
            if following in _OCTAL:
                digits = raw[i + 1 : i + 4]
                count = 0
                while count < len(digits) and digits[count] in _OCTAL:
                    count += 1
                out.append(int(digits[:count], 8) & 0xFF)
                i += 1 + count
                continue
            out.append(_ESCAPES.get(following, following))
            i += 2
            continue
        out.append(byte)
        i += 1
    return out.decode("utf-8", "surrogateescape")


def parse_index(text: bytes, stream_length: int) -> t.List[Member]:
    """The members of one backup, in stream order; ``stream_length`` ends the last one."""
    starts: t.List[t.Tuple[int, str, bool]] = []
    for line in text.split(b"\n"):
        match = _LINE.match(line)
        if not match:
            continue  # tar's other verbose lines (none are expected), or the final empty line
        name = unescape(match.group(2))
        is_dir = name.endswith("/")
        starts.append((int(match.group(1)) * BLOCK, name.rstrip("/") or name, is_dir))
    members = []
    for position, (start, name, is_dir) in enumerate(starts):
        end = starts[position + 1][0] if position + 1 < len(starts) else stream_length
        members.append(Member(start, end, name, is_dir))
    return members


def member_path(path: str, set_root: str) -> str:
    """A path as tar stores it: relative to /; a relative ``path`` is taken inside the set's folder."""
    full = path if path.startswith("/") else os.path.join(set_root, path)
    normal = os.path.normpath(full).lstrip("/")
    return normal if normal != "." else ""


def select(members: t.Sequence[Member], wanted: t.Sequence[str], *, with_parents: bool) -> t.List[Member]:
    """Members that are, or lie inside, one of the ``wanted`` member paths.

    With ``with_parents`` the folders above them come too: a folder member of an incremental archive lists
    what the folder held, so a file deleted by that moment stays deleted, as in a whole restore.
    """
    chosen = []
    for member in members:
        for path in wanted:
            if (
                not path
                or at_or_inside(member.name, path)
                or (with_parents and member.is_dir and inside(path, member.name))
            ):
                chosen.append(member)
                break
    return chosen


def ranges_of(members: t.Sequence[Member]) -> t.List[t.Tuple[int, int]]:
    """The byte ranges of the stream that hold ``members`` (in stream order), adjacent ones merged."""
    merged: t.List[t.Tuple[int, int]] = []
    for member in sorted(members, key=lambda m: m.start):
        if merged and merged[-1][1] == member.start:
            merged[-1] = (merged[-1][0], member.end)
        else:
            merged.append((member.start, member.end))
    return merged


def chunks_for(chunks: t.Sequence[Chunk], ranges: t.Sequence[t.Tuple[int, int]]) -> t.List[Chunk]:
    """The chunks that hold any byte of ``ranges``."""
    return [c for c in chunks if any(start < c.offset + c.length and end > c.offset for start, end in ranges)]


def slices_in(chunk: Chunk, ranges: t.Sequence[t.Tuple[int, int]]) -> t.List[t.Tuple[int, int]]:
    """The parts of ``ranges`` inside ``chunk``, relative to the chunk's first byte."""
    parts = []
    for start, end in ranges:
        low, high = max(start, chunk.offset), min(end, chunk.offset + chunk.length)
        if low < high:
            parts.append((low - chunk.offset, high - chunk.offset))
    return parts


def member_at(members: t.Sequence[Member], offset: int) -> t.Optional[Member]:
    """The member whose bytes include ``offset`` (a chunk boundary cuts at most one member)."""
    for member in members:
        if member.start < offset < member.end:
            return member
    return None


def require_index(members: t.Optional[t.List[Member]], backup_id: str) -> t.List[Member]:
    if members is None:
        raise RestoreError(f"backup {backup_id} has no member index (made before 0.2); restore it without --path")
    return members


def parse_dumpdirs(archive: bytes) -> t.Dict[str, t.List[str]]:
    """Folder name -> its dumpdir entries (code letter + name), from folder members of an incremental archive.

    GNU tar keeps them in the ``GNU.dumpdir`` pax record: entries ``Yname`` (stored), ``Nname`` (unchanged,
    stored earlier), ``Dname`` (a folder), and ``Rsource``/``Tdest`` pairs (a rename, absolute member names).
    Only headers are read here; nothing is extracted.
    """
    folders: t.Dict[str, t.List[str]] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as archive_file:
            for info in archive_file:
                raw = info.pax_headers.get("GNU.dumpdir")
                if raw is not None:
                    folders[info.name.rstrip("/")] = [entry for entry in raw.split("\0") if entry]
    except tarfile.TarError as exc:
        raise RestoreError(f"the folder records of the backup cannot be read: {exc}") from None
    return folders


# Where a rename cycle's middle step puts a folder: GNU tar records it as an empty name, and makes a temporary
# folder in the folder its "X" entry names. No member can have this name (tar never stores it).
CYCLE_PLACE = ".s3napback-rename-cycle-"


def renames_in(dumpdirs: t.Mapping[str, t.Sequence[str]]) -> t.List[t.Tuple[str, str, str]]:
    """(folder whose record holds it, source, destination) of every rename, in the order tar applies them.

    Folders renamed in a cycle (P to Q, Q to P) go through a temporary place: tar records ``X`` (the folder
    to make it in), then the cycle's steps with an empty name for that place, which is named here.
    """
    found = []
    cycles = 0
    for folder, entries in dumpdirs.items():
        source: t.Optional[str] = None
        place: t.Optional[str] = None
        for entry in entries:
            code, name = entry[:1], entry[1:]
            if code == "X":
                cycles += 1
                place = f"{name.rstrip('/')}/{CYCLE_PLACE}{cycles}"
                continue
            if not name and code in "RT":
                if place is None:
                    raise RestoreError(f"the folder record of {folder} names a rename cycle without its place")
                name = place
            if code == "R":
                source = name
            elif code == "T" and source is not None:
                found.append((folder, source.rstrip("/"), name.rstrip("/")))
                source = None
    return found


def final_name(name: str, later: t.Sequence[t.Tuple[str, str, str]]) -> str:
    """What ``name`` is called once the ``later`` renames (of the same backup, in order) are done."""
    for _folder, source, dest in later:
        if at_or_inside(name, source):
            name = dest + name[len(source) :]
    return name


def names_before(wanted: t.Sequence[str], renames: t.Sequence[t.Tuple[str, str, str]]) -> t.List[str]:
    """The member names, before a backup's renames, of what is called ``wanted`` after them.

    A wanted path inside a renamed folder had the old name; a folder moved into a wanted one was elsewhere
    before, and is wanted there too (the rename brings it in).
    """
    names = list(wanted)
    for _folder, source, dest in reversed(renames):
        earlier: t.List[str] = []
        for name in names:
            if at_or_inside(name, dest):
                earlier.append(source + name[len(dest) :])
            else:
                earlier.append(name)
                if inside(dest, name) and not covered(source, names):
                    earlier.append(source)
        names = list(dict.fromkeys(earlier))
    return names


def inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies (strictly) inside ``folder``: by whole names, so ``ab`` is not inside ``a``."""
    return path.startswith(folder + "/")


def at_or_inside(path: str, folder: str) -> bool:
    return path == folder or inside(path, folder)


def covered(path: str, names: t.Sequence[str]) -> bool:
    """Whether ``path`` is one of ``names`` or lies inside one."""
    return any(at_or_inside(path, name) for name in names)


def related(path: str, names: t.Sequence[str]) -> bool:
    """Whether ``path`` is one of ``names``, lies inside one, or holds one."""
    return covered(path, names) or any(inside(name, path) for name in names)


def exists_in(path: str, members: t.Sequence[Member], dumpdirs: t.Optional[t.Mapping[str, t.Sequence[str]]]) -> bool:
    """Whether ``path`` existed when the backup was made: a stored member, or listed by its folder's record."""
    if any(m.name == path for m in members):
        return True
    if dumpdirs is None:
        return False
    parent, _sep, base = path.rpartition("/")
    return any(entry[1:] == base for entry in dumpdirs.get(parent, ()) if entry[:1] in "YND")
