# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The catalog on S3: key layout, manifests, chains and what retention keeps.

A backup is the folder ``PREFIX/HOST/SET/BACKUP-ID/`` holding its chunks and, written last, its
``manifest.json``. The manifest is the only thing that makes a backup exist.
"""

from __future__ import annotations

import datetime
import json
import typing as t
from dataclasses import asdict, dataclass, field
from urllib.parse import quote, unquote

from .errors import StorageError
from .schedule import parse_day

MANIFEST_NAME = "manifest.json"
INDEX_STEM = "index"  # the member index object: index.txt[.zst][.gpg]
FORMAT_VERSION = 1


def set_key(name: str) -> str:
    """One key component per set: the name percent-encoded, so '/home/a' and 'mysql/a' never collide."""
    return quote(name, safe="")


def set_name(key: str) -> str:
    return unquote(key)


def host_prefix(prefix: str, host: str) -> str:
    return "/".join(p for p in (prefix.strip("/"), host) if p) + "/"


def set_prefix(prefix: str, host: str, name: str) -> str:
    return host_prefix(prefix, host) + set_key(name) + "/"


@dataclass(frozen=True)
class Chunk:
    index: int
    key: str  # object key relative to the backup folder
    offset: int  # where the chunk starts in the uncompressed stream
    length: int  # uncompressed bytes
    size: int  # stored (compressed, encrypted) bytes
    sha256: str  # hex digest of the stored object


@dataclass(frozen=True)
class Manifest:
    backup_id: str
    set: str
    host: str
    kind: str  # FULL or DIFF
    source_kind: str  # directory, mysql, ...
    source: str
    seq: int  # 1, 2, 3 ... per set: orders backups whatever the clocks say
    period: int
    slot: int
    day: str  # the schedule day, YYYY-MM-DD
    started: str  # UTC, ISO 8601
    finished: str
    parent: t.Optional[str]  # the backup a DIFF builds on
    full: str  # the FULL that starts the chain (itself for a FULL)
    chunks: t.Tuple[Chunk, ...]
    bytes_read: int
    bytes_stored: int
    compression: str
    compression_level: t.Optional[int]
    encryption: str
    recipients: t.Tuple[str, ...]  # key fingerprints
    snapshot_sha256: t.Optional[str]
    tool_version: str
    server_checksum: str = "unknown"  # "verified" when the store checked each chunk's SHA-256
    schedule: t.Mapping[str, t.Any] = field(default_factory=dict)
    # tar's member index (``block N: NAME`` lines), compressed and encrypted like a chunk; None before 0.2
    index: t.Optional[Chunk] = None
    # what a dump reached (a Subversion backup's UUID and revisions): where the next incremental starts
    source_state: t.Mapping[str, t.Any] = field(default_factory=dict)
    # how the objects are stored: storage class, and the Object Lock (mode, retain-until in UTC ISO 8601)
    storage_class: t.Optional[str] = None
    lock_mode: t.Optional[str] = None
    retain_until: t.Optional[str] = None
    format: int = FORMAT_VERSION

    @property
    def chunk_suffix(self) -> str:
        return chunk_suffix(self.compression, self.encryption)

    def objects(self) -> t.List[Chunk]:
        """Every stored object the backup needs besides its manifest: the chunks, then the index."""
        return [*self.chunks, *([self.index] if self.index is not None else [])]

    def to_json(self) -> bytes:
        data = asdict(self)
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> Manifest:
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            if data.get("format") != FORMAT_VERSION:
                raise StorageError(
                    f"{where}: manifest format {data.get('format')!r} is not supported; upgrade s3napback"
                )
            data["chunks"] = tuple(Chunk(**c) for c in data["chunks"])
            if data.get("index") is not None:
                data["index"] = Chunk(**data["index"])
            data["recipients"] = tuple(data["recipients"])
            manifest = cls(**data)
            _check_types(manifest, MANIFEST_TYPES)
            for chunk in manifest.objects():
                _check_types(chunk, CHUNK_TYPES)
            parse_day(manifest.day)  # ValueError if it is not a day: the schedule counts from it
            if manifest.retain_until is not None:
                datetime.datetime.fromisoformat(manifest.retain_until)  # ValueError if it is not a time
            return manifest
        except (ValueError, TypeError, KeyError) as exc:
            raise StorageError(f"{where}: unreadable manifest ({exc}); the backup cannot be trusted") from None


MANIFEST_TYPES = {
    int: ("seq", "period", "slot", "bytes_read", "bytes_stored"),
    str: ("backup_id", "set", "host", "kind", "source_kind", "source", "day", "started", "finished", "full")
    + ("compression", "encryption", "tool_version"),
    (str, type(None)): ("parent", "snapshot_sha256", "storage_class", "lock_mode", "retain_until"),
}
CHUNK_TYPES = {int: ("index", "offset", "length", "size"), str: ("key", "sha256")}


def _check_types(record: t.Any, types: t.Mapping[t.Any, t.Sequence[str]]) -> None:
    """What the catalog computes with must have its type: a manifest edited by hand or damaged is refused."""
    for kind, names in types.items():
        for name in names:
            value = getattr(record, name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise TypeError(f"{name} is {value!r}")


def chunk_suffix(compression: str, encryption: str, stem: str = ".tar") -> str:
    suffix = stem
    if compression == "zstd":
        suffix += ".zst"
    elif compression == "gzip":
        suffix += ".gz"
    if encryption == "gpg":
        suffix += ".gpg"
    return suffix


def lineage(manifest: t.Optional[Manifest], by_id: t.Mapping[str, Manifest]) -> t.Iterator[Manifest]:
    """``manifest`` and the backups it builds on, newest first, as far as ``by_id`` holds them."""
    seen: t.Set[str] = set()
    while manifest is not None and manifest.backup_id not in seen:
        seen.add(manifest.backup_id)
        yield manifest
        manifest = by_id.get(manifest.parent) if manifest.parent else None


def chain_of(target: Manifest, committed: t.Iterable[Manifest]) -> t.List[Manifest]:
    """The FULL and DIFFs, oldest first, needed to restore ``target``; StorageError if one is missing."""
    by_id = {m.backup_id: m for m in committed}
    chain = [target]
    while chain[-1].kind != "FULL":
        parent = chain[-1].parent
        if parent is None or parent not in by_id or by_id[parent] in chain:
            raise StorageError(
                f"backup {chain[-1].backup_id} needs {parent}, which is not in the catalog; "
                "restore an older moment or a backup of another chain"
            )
        chain.append(by_id[parent])
    chain.reverse()
    return chain


@dataclass
class SetListing:
    """What the bucket holds for one set: committed backups and the leftovers of failed runs."""

    prefix: str
    committed: t.List[Manifest]
    leftovers: t.Dict[str, t.List[str]]  # backup id -> its keys, for folders without a manifest
    keys: t.Dict[str, t.List[t.Tuple[str, int]]]  # backup id -> (key, size) of every object

    def newest(self) -> t.Optional[Manifest]:
        return max(self.committed, key=lambda m: m.seq) if self.committed else None

    def lost_manifests(self) -> t.Set[str]:
        """Folders without a manifest that committed backups build on: not a failed run's leftovers but a
        backup whose manifest was deleted. Its chunks may still be worth something: they stay while those
        backups do (the rotation retires a chain whole, so it goes with them)."""
        referenced = {m.parent for m in self.committed if m.parent} | {m.full for m in self.committed}
        return set(self.leftovers) & referenced

    def failed_runs(self) -> t.Dict[str, t.List[str]]:
        """The leftovers a backup run removes: folders without a manifest that no committed backup builds on."""
        lost = self.lost_manifests()
        return {backup_id: keys for backup_id, keys in self.leftovers.items() if backup_id not in lost}


def load_set(store: t.Any, prefix: str) -> SetListing:
    """List one set's folder in the bucket and read its manifests."""
    by_backup: t.Dict[str, t.List[t.Tuple[str, int]]] = {}
    for key, size in store.list(prefix):
        backup_id, sep, _rest = key[len(prefix) :].partition("/")
        if sep:
            by_backup.setdefault(backup_id, []).append((key, size))
    committed = []
    leftovers = {}
    for backup_id, objects in sorted(by_backup.items()):
        manifest_key = prefix + backup_id + "/" + MANIFEST_NAME
        if any(key == manifest_key for key, _size in objects):
            committed.append(Manifest.from_json(store.get(manifest_key), manifest_key))
        else:
            leftovers[backup_id] = [key for key, _size in objects]
    return SetListing(prefix, committed, leftovers, by_backup)


def list_sets(store: t.Any, prefix: str, host: str) -> t.List[str]:
    """Names of the sets a host has anything stored for."""
    base = host_prefix(prefix, host)
    names = set()
    for key, _size in store.list(base):
        set_part, sep, _rest = key[len(base) :].partition("/")
        if sep:
            names.add(set_name(set_part))
    return sorted(names)
