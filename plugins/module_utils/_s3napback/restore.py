# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Restore a set to a moment: the newest FULL at or before it, then its DIFFs in order.

Chunks are downloaded in parallel (each stands alone), checked against the manifest's size and SHA-256
*before* gpg sees them, and fed in order into one decompressor and GNU tar, which extracts with incremental
semantics (``--listed-incremental=/dev/null``) so files deleted between backups stay deleted.

Into an empty destination, tar extracts into a hidden staging folder inside it, whose contents are moved into
place only when every chunk of the chain has passed its checks: a damaged chunk leaves the destination as it
was. With ``overwrite`` (a destination that is not empty) every chunk is downloaded and checked first, then
again to extract. ``paths`` restores some members only: the backup's member index says which byte ranges of
the stream hold them, and only the chunks holding those bytes are downloaded.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from .catalog import Chunk, Manifest, SetListing, chain_of, load_set, set_prefix
from .chunks import Progress, decompress_stage
from .errors import PipelineError, RestoreError, S3napbackError
from .keys import decrypt_argv
from .loaders import check_load, dump_file_name, load_dump
from .members import (
    END_OF_ARCHIVE,
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
    related,
    renames_in,
    require_index,
    select,
    slices_in,
    unescape,
)
from .pipeline import Chain, Stage, close_quietly, write_all
from .progress import ProgressLine
from .schedule import parse_day
from .space import out_of_space

log = logging.getLogger(__name__)


@dataclass
class RestoreResult:
    set: str
    host: str
    target: str
    chain: t.List[str]
    destination: str
    paths: t.List[str] = field(default_factory=list)
    bytes_downloaded: int = 0
    bytes_total: int = 0  # what downloading every object of the chain would take
    bytes_written: int = 0  # of the archive stream fed to tar
    chunks: int = 0  # downloads of archive chunks (twice each with overwrite: checked, then extracted)
    indexes: int = 0  # member indexes read (partial restores)
    chunks_total: int = 0  # stored objects of the chain, indexes included
    members: t.Optional[int] = None  # with paths: how many members were restored
    warnings: t.List[str] = field(default_factory=list)

    def as_dict(self) -> t.Dict[str, t.Any]:
        return asdict(self)


_M_MMAP_THRESHOLD = -3


def keep_large_buffers_off_the_heap() -> None:
    """Have glibc serve allocations of 4 MiB and more with mmap, and give them back when freed.

    By default glibc raises its mmap threshold after each large free, so the downloaded chunks a restore
    holds end up on the heap, where freed memory fragments and is not returned: the process would hold far
    more than the chunks in flight. Harmless where there is no glibc (the call is simply not there).
    """
    try:
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 4 << 20)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


# A time as --at takes it: a day and a time, seconds and zone optional (without a zone: local time).
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"  # day and time
    r"(:[0-9]{2}(\.[0-9]{3}|\.[0-9]{6})?)?"  # seconds, milli- or microseconds
    r"(Z|[+-][0-9]{2}:[0-9]{2})?"  # zone
)


def resolve_moment(committed: t.Sequence[Manifest], at: str) -> Manifest:
    """``latest``, a backup id, a day (YYYY-MM-DD: the newest backup of that day or before) or a UTC time."""
    if not committed:
        raise RestoreError("there is no committed backup of this set")
    ordered = sorted(committed, key=lambda m: m.seq)
    if at in ("", "latest", "now"):
        return ordered[-1]
    for manifest in ordered:
        if manifest.backup_id == at:
            return manifest
    try:
        if len(at) == 10:
            day = parse_day(at).isoformat()
            candidates = [m for m in ordered if m.day <= day]
        else:
            if not _TIME.fullmatch(at):  # 3.11's fromisoformat also takes 20261201 or 2026-W49-2; 3.9's does not
                raise ValueError(at)
            moment = datetime.datetime.fromisoformat(at.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.astimezone()  # a time without zone is local time
            stamp = moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            candidates = [m for m in ordered if m.finished <= stamp]
    except ValueError:
        raise RestoreError(
            f"--at {at!r} is not 'latest', a backup id of this set, a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM:SS)"
        ) from None
    if not candidates:
        raise RestoreError(f"no backup of this set is as old as {at}; the oldest is {ordered[0].day}")
    return candidates[-1]


STAGING_PREFIX = ".s3napback-restore-"


def prepare_destination(destination: str, overwrite: bool) -> bool:
    """Check or create the destination; True when it was created (and is removed again on failure)."""
    if os.path.lexists(destination):
        if not os.path.isdir(destination):
            raise RestoreError(f"destination {destination} exists and is not a folder")
        entries = os.listdir(destination)
        if not overwrite and entries:
            leftovers = [e for e in entries if e.startswith(STAGING_PREFIX)]
            if leftovers == entries:
                raise RestoreError(
                    f"destination {destination} holds {leftovers[0]}, left by an interrupted restore; remove it"
                )
            raise RestoreError(
                f"destination {destination} is not empty; choose an empty or new folder, or overwrite it on purpose"
            )
        return False
    try:
        os.makedirs(destination, mode=0o700)
    except OSError as exc:
        raise RestoreError(f"cannot create destination {destination}: {exc.strerror}") from None
    return True


def tar_extract_stage(destination: str) -> Stage:
    argv = [
        "tar",
        "--extract",
        "--file=-",
        "--listed-incremental=/dev/null",  # incremental semantics: apply deletions recorded in each DIFF
        "--acls",
        "--xattrs",
        "--xattrs-include=*",
        "--preserve-permissions",
        # never --absolute-names: tar then strips leading "/", skips members with "..", and creates symlinks
        # that point outside only after every other member, so no member is written through one
        f"--directory={os.path.abspath(destination)}",
    ]
    if os.geteuid() == 0:
        argv.insert(2, "--same-owner")
    # Folders renamed in a cycle (P -> Q, Q -> P) go through a temporary folder that GNU tar (1.34) makes
    # relative to its working directory, not to --directory: run it in the destination, or the restore fails
    # or, run from /, writes that folder into the live source tree.
    return Stage("tar", argv, cwd=os.path.abspath(destination))


def decode_stages(manifest: Manifest, gnupghome: t.Optional[str]) -> t.List[Stage]:
    stages = [Stage("gpg", decrypt_argv(gnupghome))] if manifest.encryption == "gpg" else []
    return stages + decompress_stage(manifest.compression)


def explain_gpg(where: str, stage: Stage, gnupghome: t.Optional[str]) -> RestoreError:
    detail = " ".join(stage.stderr_tail.split())
    if "no secret key" in detail.lower():
        return RestoreError(
            f"{where}: no private key for it in {gnupghome or 'the default GnuPG home'}; "
            "pass --gnupghome with the backup's private key"
        )
    return RestoreError(f"{where}: gpg could not decrypt it: {detail[-300:]}")


class Restorer:
    def __init__(
        self, store: t.Any, *, parallel: int = 4, gnupghome: t.Optional[str] = None, progress: Progress
    ) -> None:
        self.store = store
        self.parallel = max(1, parallel)
        self.gnupghome = gnupghome
        self.progress = progress
        # keyed by the chain itself (identity), which also keeps it alive until its feeder is joined
        self.feeders: t.Dict[Chain, threading.Thread] = {}
        self.indexes_read = 0

    def fetch(self, folder: str, manifest: Manifest, chunk: Chunk) -> bytes:
        """Download one object and check it against the manifest; gpg never sees a damaged chunk."""
        data = self.store.get(folder + chunk.key)
        check_object(data, chunk, manifest)
        self.progress.add_uploaded(len(data))
        return data

    def fetch_in_order(
        self, folder: str, manifest: Manifest, chunks: t.Sequence[Chunk]
    ) -> t.Iterator[t.Tuple[Chunk, bytes]]:
        """Yield ``chunks`` in order, downloading up to ``parallel`` ahead: memory holds at most that many."""
        pending: t.List[Future] = []
        with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="s3napback-fetch") as pool:
            try:
                following = 0
                for chunk in chunks:
                    while following < len(chunks) and len(pending) < self.parallel:
                        pending.append(pool.submit(self.fetch, folder, manifest, chunks[following]))
                        following += 1
                    yield chunk, pending.pop(0).result()
            finally:
                for future in pending:
                    future.cancel()

    def decode(self, manifest: Manifest, chunk: Chunk, data: bytes, stdout: t.Any) -> Chain:
        """Start gpg and the decompressor on one chunk; a thread feeds them ``data``."""
        # an object stored plain (Compression none, Encryption none) is its own decoding: cat passes it
        # through, so every object is read the same way
        stages = decode_stages(manifest, self.gnupghome) or [Stage("cat", ["cat"])]
        chain = Chain(stages, stdin=subprocess.PIPE, stdout=stdout)

        feeder = self.feeders[chain] = threading.Thread(target=_feed, args=(chain, data), daemon=True)
        feeder.start()
        return chain

    def finish_decode(self, chain: Chain, manifest: Manifest, chunk: Chunk) -> None:
        """Wait for a chunk's decoder; a failure names the chunk (and a missing key, as such)."""
        feeder = self.feeders.pop(chain, None)
        if feeder is not None:
            feeder.join()
        try:
            chain.wait()
        except PipelineError as exc:
            where = f"chunk {chunk.key} of backup {manifest.backup_id}"
            if chain.stages[0].name == "gpg" and chain.stages[0].process and chain.stages[0].process.returncode:
                raise explain_gpg(where, chain.stages[0], self.gnupghome) from None
            raise RestoreError(f"{where}: {exc}") from None

    def member_index(self, folder: str, manifest: Manifest) -> t.Optional[t.List[Member]]:
        """The backup's members, from its encrypted index; None for backups made without one."""
        if manifest.index is None:
            return None
        data = self.fetch(folder, manifest, manifest.index)
        self.indexes_read += 1
        decoder = self.decode(manifest, manifest.index, data, subprocess.PIPE)
        text = t.cast(t.IO[bytes], decoder.stdout).read()
        self.finish_decode(decoder, manifest, manifest.index)
        length = max((c.offset + c.length for c in manifest.chunks), default=0)
        return parse_index(text, length)

    def extract_whole(self, folder: str, manifest: Manifest, destination: str) -> None:
        """Every chunk in order, each decrypted straight into one decompressor and tar (no copy in Python)."""
        self.stream_whole(folder, manifest, tar_extract_stage(destination), stdout=None)

    def stream_whole(self, folder: str, manifest: Manifest, tar: Stage, stdout: t.Any) -> None:
        """The backup's whole archive stream into ``tar`` (extracting, or listing to check it reads)."""
        chain = Chain(
            [*decompress_stage(manifest.compression), tar],
            stdin=subprocess.PIPE,
            stdout=stdout,
        )
        fd = t.cast(t.IO[bytes], chain.stdin).fileno()
        try:
            for chunk, data in self.fetch_in_order(folder, manifest, manifest.chunks):
                self.progress.add_read(chunk.length)
                if manifest.encryption == "gpg":
                    gpg = Chain([Stage("gpg", decrypt_argv(self.gnupghome))], stdin=subprocess.PIPE, stdout=fd)
                    _feed(gpg, data)
                    self.finish_decode(gpg, manifest, chunk)
                else:
                    write_all(fd, data)
                del data
        except BrokenPipeError:
            pass  # tar or the decompressor gave up: wait() names why
        except RestoreError:
            _end_early(chain)
            raise
        except BaseException:
            close_quietly(chain.stdin)
            chain.kill()
            raise
        close_quietly(chain.stdin)
        try:
            chain.wait()
        except PipelineError as exc:
            raise RestoreError(f"reading the archive of backup {manifest.backup_id} failed: {exc}") from None

    def iter_ranges(self, folder: str, manifest: Manifest, ranges: t.Sequence[t.Tuple[int, int]]) -> t.Iterator[bytes]:
        """The bytes of ``ranges`` of the archive stream: each needed chunk is decoded on its own and cut."""
        for chunk, data in self.fetch_in_order(folder, manifest, chunks_for(manifest.chunks, ranges)):
            decoder = self.decode(manifest, chunk, data, subprocess.PIPE)
            del data
            source = t.cast(t.IO[bytes], decoder.stdout).fileno()
            position = 0
            try:
                for low, high in slices_in(chunk, ranges):
                    position = _skip(source, low - position, position)
                    while position < high:
                        block = os.read(source, min(high - position, 1 << 20))
                        if not block:
                            raise RestoreError(
                                f"chunk {chunk.key} of backup {manifest.backup_id} decoded to fewer bytes than "
                                "its manifest says; the backup is damaged"
                            )
                        position += len(block)
                        self.progress.add_read(len(block))
                        yield block
            finally:
                _drain(source)  # the rest of the chunk is not wanted; let the decoder finish
                self.finish_decode(decoder, manifest, chunk)

    def extract_ranges(
        self, folder: str, manifest: Manifest, ranges: t.Sequence[t.Tuple[int, int]], destination: str
    ) -> None:
        """Only the bytes of ``ranges``, then an end-of-archive marker: tar sees a smaller, valid archive."""
        tar = Chain([tar_extract_stage(destination)], stdin=subprocess.PIPE, stdout=None, env=english_messages())
        fd = t.cast(t.IO[bytes], tar.stdin).fileno()
        try:
            for block in self.iter_ranges(folder, manifest, ranges):
                write_all(fd, block)
            write_all(fd, END_OF_ARCHIVE)
        except BrokenPipeError:
            pass  # tar gave up: wait() names why
        except RestoreError:
            _end_early(tar)
            raise
        except BaseException:
            close_quietly(tar.stdin)
            tar.kill()
            raise
        close_quietly(tar.stdin)
        try:
            tar.wait()
        except PipelineError as exc:
            targets = HARD_LINK_TO_MISSING.findall(tar.stages[0].stderr_tail)
            message = f"extracting backup {manifest.backup_id} failed: {exc}"
            raise HardLinkError(message, targets) if targets else RestoreError(message) from None

    def dumpdirs(self, folder: str, manifest: Manifest, members: t.Sequence[Member]) -> t.Dict[str, t.List[str]]:
        """What each folder of an incremental backup held, from its folder members (at the archive's start)."""
        folders = [m for m in members if m.is_dir]
        data = b"".join(self.iter_ranges(folder, manifest, ranges_of(folders)))
        return parse_dumpdirs(data + END_OF_ARCHIVE)

    def verify_all(self, folder: str, manifest: Manifest, chunks: t.Sequence[Chunk]) -> None:
        """Download and check ``chunks`` without using them (the pass before writing into a full folder)."""
        for _chunk, data in self.fetch_in_order(folder, manifest, chunks):
            del data


def check_object(data: bytes, chunk: Chunk, manifest: Manifest) -> None:
    where = f"chunk {chunk.key} of backup {manifest.backup_id}"
    if len(data) != chunk.size:
        raise RestoreError(f"{where} has {len(data)} bytes, the manifest says {chunk.size}: the object is damaged")
    if hashlib.sha256(data).hexdigest() != chunk.sha256:
        raise RestoreError(f"{where} fails its SHA-256 check: the object is corrupted; nothing of it was used")


def _feed(chain: Chain, data: bytes) -> None:
    try:
        write_all(t.cast(t.IO[bytes], chain.stdin).fileno(), data)
    except BrokenPipeError:
        pass  # the tool gave up early: its exit status and message say why
    finally:
        close_quietly(chain.stdin)


def _end_early(chain: Chain) -> None:
    """A damaged chunk: let tar finish what it was given (so what precedes is whole), then stop it."""
    close_quietly(chain.stdin)
    try:
        chain.wait()
    except PipelineError:
        pass  # it ends with "unexpected end of file": the damage, already being reported


def _skip(fd: int, count: int, position: int) -> int:
    while count > 0:
        block = os.read(fd, min(count, 1 << 20))
        if not block:
            raise RestoreError("a chunk decoded to fewer bytes than its manifest says; the backup is damaged")
        count -= len(block)
        position += len(block)
    return position


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 1 << 20):
            pass
    except OSError:
        pass


def _move_into_place(staging: str, destination: str) -> None:
    for name in os.listdir(staging):
        os.replace(os.path.join(staging, name), os.path.join(destination, name))
    os.rmdir(staging)


def _check_chain_objects(listing: SetListing, chain: t.Sequence[Manifest]) -> None:
    """Cheap check of the whole chain before anything is written: every object present with its size."""
    for manifest in chain:
        stored = dict(listing.keys.get(manifest.backup_id, []))
        for chunk in manifest.objects():
            key = listing.prefix + manifest.backup_id + "/" + chunk.key
            if key not in stored:
                raise RestoreError(f"chunk {chunk.key} of backup {manifest.backup_id} is missing from the bucket")
            if stored[key] != chunk.size:
                raise RestoreError(
                    f"chunk {chunk.key} of backup {manifest.backup_id} has {stored[key]} bytes, "
                    f"the manifest says {chunk.size}: the object is damaged"
                )


def check_restore(
    store: t.Any,
    set_folder: str,
    host: str,
    name: str,
    destination: str,
    at: str,
    paths: t.Sequence[str],
    overwrite: bool,
    load: bool,
) -> t.Tuple[t.List[Manifest], RestoreResult]:
    """Everything a restore checks before it downloads or creates anything; also what check mode reports.

    Returns the chain to apply and the result to fill in, with the destination as the restore takes it.
    """
    listing = load_set(store, set_folder)
    if not listing.committed:
        raise RestoreError(f"no committed backup of {name} for host {host} in the bucket (under {set_folder})")
    target = resolve_moment(listing.committed, at)
    try:
        chain = chain_of(target, listing.committed)
    except S3napbackError as exc:
        raise RestoreError(str(exc)) from None
    _check_chain_objects(listing, chain)
    kind = target.source_kind
    if kind not in ("directory", "subversion", "postgresql", "mysql"):
        raise RestoreError(f"{name} is a {kind} backup, which this version cannot restore; upgrade s3napback")
    if kind != "directory" and paths:
        raise RestoreError(f"{name} is a {kind} dump: it is restored whole; leave out --path")
    if load:
        destination = check_load(target, destination)
    else:
        destination = os.path.abspath(destination)
        if os.path.lexists(destination):
            prepare_destination(destination, overwrite)  # it exists, so this only checks: before any download
    result = RestoreResult(name, host, target.backup_id, [m.backup_id for m in chain], destination, list(paths))
    result.bytes_total = sum(c.size for m in chain for c in m.objects())
    result.chunks_total = sum(len(m.objects()) for m in chain)
    return chain, result


def restore_set(
    store: t.Any,
    *,
    prefix: str,
    host: str,
    name: str,
    destination: str,
    at: str = "latest",
    gnupghome: t.Optional[str] = None,
    parallel: int = 4,
    show_progress: bool = False,
    paths: t.Sequence[str] = (),
    overwrite: bool = False,
    salvage: bool = False,
    load: bool = False,
) -> RestoreResult:
    """Restore set ``name`` of ``host`` as it was at ``at`` into ``destination`` (empty unless ``overwrite``).

    A dump set comes back as its dump files, one per backup of the chain (to load in order); with ``load``,
    loaded into a new repository (Subversion) or database (PostgreSQL, MySQL) named by ``destination``.
    """
    set_folder = set_prefix(prefix, host, name)
    chain, result = check_restore(store, set_folder, host, name, destination, at, paths, overwrite, load)
    destination = result.destination
    keep_large_buffers_off_the_heap()
    progress = Progress()
    restorer = Restorer(store, parallel=parallel, gnupghome=gnupghome, progress=progress)
    line = ProgressLine(f"restore {name}", progress) if show_progress else None

    def stream(manifest: Manifest, sink: Stage) -> None:
        restorer.stream_whole(set_folder + manifest.backup_id + "/", manifest, sink, stdout=subprocess.DEVNULL)

    wanted = list(paths)
    try:
        for attempt in range(1, LINK_ROUNDS + 1):
            plans = _plan(restorer, set_folder, chain, name, wanted)
            try:
                if load:
                    load_dump(chain, destination, stream)
                elif overwrite:
                    prepare_destination(destination, overwrite)
                    members = [member_path(p, chain[-1].source) for p in wanted] or [name_path(chain[-1])]
                    refuse_links_out(destination, members)
                    for plan in plans:
                        restorer.verify_all(set_folder + plan.manifest.backup_id + "/", plan.manifest, plan.chunks())
                    with naming_a_full_disk(destination):
                        _extract_chain(restorer, set_folder, plans, destination)
                else:
                    created = prepare_destination(destination, overwrite)
                    _extract_staged(restorer, set_folder, plans, destination, created=created, salvage=salvage)
                break
            except HardLinkError as exc:
                # a chosen file is a hard link to one --path left out: take that one too, and start again (not
                # with --overwrite, which has already changed the destination)
                extra = [f"/{unescape(target.encode())}" for target in exc.targets]
                extra = [path for path in extra if path not in wanted]
                if not extra or overwrite or attempt == LINK_ROUNDS:
                    also = " ".join(f"--path {path}" for path in extra[:3])
                    raise RestoreError(f"{exc}; add {also or '--path'} for the file it is a hard link to") from None
                wanted += extra
                result.warnings += [f"also restored {path}: a chosen file is a hard link to it" for path in extra]
    finally:
        if line is not None:
            line.stop()
    result.bytes_downloaded = progress.bytes_uploaded
    result.bytes_written = progress.bytes_read
    result.chunks = progress.chunks - restorer.indexes_read
    result.indexes = restorer.indexes_read
    if paths:
        result.members = len({m.name for plan in plans for m in plan.selected})
        result.warnings += [f"{path} did not exist at that moment" for plan in plans for path in plan.absent]
    return result


@dataclass
class BackupPlan:
    """What to extract from one backup of the chain."""

    manifest: Manifest
    ranges: t.Optional[t.List[t.Tuple[int, int]]] = None  # None: the whole stream
    members: t.Optional[t.List[Member]] = None  # from the member index, when it was read
    dumpdirs: t.Optional[t.Dict[str, t.List[str]]] = None  # a DIFF's folder records, for partial restores
    wanted: t.List[str] = field(default_factory=list)  # the wanted paths under this backup's names
    selected: t.List[Member] = field(default_factory=list)
    # to replay before extracting: source, destination, and where it ends up when that is outside what is
    # wanted (it is removed once every rename is done: a later one may still take something out of it)
    renames: t.List[t.Tuple[str, str, t.Optional[str]]] = field(default_factory=list)
    absent: t.List[str] = field(default_factory=list)  # wanted paths that did not exist at the moment

    def chunks(self) -> t.List[Chunk]:
        return list(self.manifest.chunks) if self.ranges is None else chunks_for(self.manifest.chunks, self.ranges)


def _plan(
    restorer: Restorer,
    set_folder: str,
    chain: t.Sequence[Manifest],
    name: str,
    paths: t.Sequence[str],
) -> t.List[BackupPlan]:
    """For each backup of the chain, what to extract; with ``paths``, from its member index.

    Paths are named as they were at the restored moment. Walking the chain backwards, the renames each DIFF
    records (in its folders' dumpdirs) give their names in earlier backups. Each backup then contributes the
    members under those names; the renames are replayed between backups, and a wanted path that did not exist
    at the moment is left out, as a whole restore would.
    """
    if not paths:
        return [BackupPlan(m) for m in chain]
    wanted = [member_path(p, chain[-1].source) for p in paths]
    if "" in wanted:
        return [BackupPlan(m) for m in chain]  # the set's own folder: everything
    plans = [BackupPlan(m) for m in chain]
    for plan in plans:
        folder = set_folder + plan.manifest.backup_id + "/"
        plan.members = require_index(restorer.member_index(folder, plan.manifest), plan.manifest.backup_id)
        if plan.manifest.kind != "FULL":
            plan.dumpdirs = restorer.dumpdirs(folder, plan.manifest, plan.members)
    names = wanted
    for plan in reversed(plans):
        plan.wanted = names
        renames = renames_in(plan.dumpdirs or {})
        names = names_before(names, renames)
        plan.selected = select(t.cast(t.List[Member], plan.members), plan.wanted, with_parents=False)
        plan.ranges = ranges_of(plan.selected)
        selected_folders = {m.name for m in plan.selected if m.is_dir}
        # renames recorded by a folder member tar extracts are done by tar; the others we do ourselves
        # (a rename whose folder ends up outside what is wanted removes it: it left what is wanted)
        plan.renames = []
        for position, (owner, source, dest) in enumerate(renames):
            final = final_name(dest, renames[position + 1 :])
            if owner not in selected_folders:
                plan.renames.append((source, dest, None if related(final, plan.wanted) else final))
    target = plans[-1]
    present = [w for w in wanted if exists_in(w, t.cast(t.List[Member], target.members), target.dumpdirs)]
    if not present:
        raise RestoreError(
            f"nothing in {name} at {target.manifest.backup_id} matches {', '.join(paths)}; "
            "give paths as absolute or relative to the set's folder, as they were at that moment"
        )
    target.absent = [w for w in wanted if w not in present]
    return plans


def _extract(restorer: Restorer, set_folder: str, plan: BackupPlan, destination: str) -> None:
    folder = set_folder + plan.manifest.backup_id + "/"
    if plan.manifest.source_kind != "directory":  # a dump: its stream is the file
        with open(os.path.join(destination, dump_file_name(plan.manifest)), "wb") as out:
            restorer.stream_whole(folder, plan.manifest, Stage("cat", ["cat"]), stdout=out)
        return
    for source, dest, _leaves in plan.renames:
        _rename_inside(destination, source, dest)
    for source, _dest, leaves in plan.renames:
        if leaves is not None:  # moved out of what is wanted: gone from it, as in a whole restore
            _remove_inside(destination, leaves)
            _remove_empty_parents(destination, leaves, plan.wanted)
        _remove_empty_parents(destination, source, plan.wanted)
    for member in plan.selected:  # a name whose type changed: tar would not replace a folder by a file or back
        _remove_other_type(destination, member)
    log.info("extracting %s (%s, %d chunks)", plan.manifest.backup_id, plan.manifest.kind, len(plan.chunks()))
    if plan.ranges is None:
        restorer.extract_whole(folder, plan.manifest, destination)
    elif plan.ranges:
        restorer.extract_ranges(folder, plan.manifest, plan.ranges, destination)
    for path in plan.absent:
        _remove_inside(destination, path)


def _inside(root: str, member: str) -> str:
    path = os.path.normpath(os.path.join(root, member))
    if os.path.commonpath([root, path]) != os.path.normpath(root):
        raise RestoreError(f"the backup names {member!r}, which is outside the destination")  # pragma: no cover
    return path


def _rename_inside(root: str, source: str, dest: str) -> None:
    """Replay a rename a DIFF records, for the part of it that was restored."""
    old, new = _inside(root, source), _inside(root, dest)
    if os.path.lexists(old) and not os.path.lexists(new):
        os.makedirs(os.path.dirname(new), exist_ok=True)
        os.rename(old, new)


def _remove_empty_parents(root: str, member: str, wanted: t.Sequence[str]) -> None:
    """Folders that tar made only to hold what was renamed away, and that are neither wanted nor inside."""
    parent = member.rpartition("/")[0]
    while parent and not related(parent, wanted):
        path = _inside(root, parent)
        if not os.path.isdir(path) or os.path.islink(path) or os.listdir(path):
            return
        os.rmdir(path)
        parent = parent.rpartition("/")[0]


def _remove_other_type(root: str, member: Member) -> None:
    path = _inside(root, member.name)
    is_dir = os.path.isdir(path) and not os.path.islink(path)
    if os.path.lexists(path) and is_dir != member.is_dir:
        _remove_inside(root, member.name)


def _remove_inside(root: str, member: str) -> None:
    path = _inside(root, member)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _extract_staged(
    restorer: Restorer,
    set_folder: str,
    plans: t.Sequence[BackupPlan],
    destination: str,
    *,
    created: bool,
    salvage: bool,
) -> None:
    """Extract into a staging folder inside ``destination``; move its contents into place only when all passed."""
    staging: t.Optional[str] = None
    try:
        with naming_a_full_disk(destination):
            staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=destination)
        for position, plan in enumerate(plans):
            try:
                with naming_a_full_disk(destination):
                    _extract(restorer, set_folder, plan, staging)
            except (NoSpaceError, HardLinkError):
                raise  # nothing to salvage: the data is fine (the disk is full, or a link needs its file)
            except RestoreError as exc:
                if not salvage or position == 0 and not os.listdir(staging):
                    raise
                cut = _salvage(restorer, set_folder, plan, staging, str(exc))
                _move_into_place(staging, destination)
                unused = ", ".join(p.manifest.backup_id for p in plans[position + 1 :])
                raise SalvagedError(
                    f"{exc}; --salvage kept what came before it in {destination}"
                    + (f" (without {cut}, which the damage cuts)" if cut else "")
                    + (f"; the later backups {unused} were not applied" if unused else "")
                ) from None
        _move_into_place(staging, destination)
    except BaseException:
        if staging is None or os.path.isdir(staging):  # not salvaged: leave the destination as it was
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            if created:
                shutil.rmtree(destination, ignore_errors=True)
        raise


def english_messages() -> t.Dict[str, str]:
    """The environment with tar's messages untranslated (they are read), and every other category as it was."""
    env = dict(os.environ)
    if "LC_ALL" in env:  # it would override LC_MESSAGES: keep its character set as LC_CTYPE instead
        env["LC_CTYPE"] = env.pop("LC_ALL")
    env["LC_MESSAGES"] = "C"
    return env


class HardLinkError(RestoreError):
    """A partial restore chose a hard link without the file it links to (the member that holds the data)."""

    def __init__(self, message: str, targets: t.Sequence[str] = ()) -> None:
        super().__init__(message)
        self.targets = list(targets)


# tar: NAME: Cannot hard link to 'TARGET': No such file or directory (with the quotes of the locale)
HARD_LINK_TO_MISSING = re.compile(r"Cannot hard link to [\u2018'`\"](.+?)[\u2019'\"]: No such file or directory")
LINK_ROUNDS = 20  # tar names a dozen missing files at most per round (its message's tail is kept)


class NoSpaceError(RestoreError):
    """The destination's file system filled up during a restore."""


class SalvagedError(RestoreError):
    """A restore failed on damaged data, and --salvage moved what came before the damage into the destination."""


@contextlib.contextmanager
def naming_a_full_disk(destination: str) -> t.Iterator[None]:
    """A restore that fails on a full file system says so, whatever the tool that hit it printed ("Wrote only
    6656 of 10240 bytes"); a file system error of our own is one line too. Checked before any clean-up frees
    space."""
    try:
        yield
    except (RestoreError, OSError) as exc:
        detail = str(exc)
        if isinstance(exc, OSError) and exc.strerror:
            detail = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
        if out_of_space(exc, destination):
            raise NoSpaceError(
                f"{destination}: No space left on device; free space there or restore to a bigger disk ({detail})"
            ) from None
        if isinstance(exc, OSError):
            raise RestoreError(f"restoring into {destination} failed: {detail}") from None
        raise


def _salvage(restorer: Restorer, set_folder: str, plan: BackupPlan, staging: str, error: str) -> t.Optional[str]:
    """After a damaged chunk: remove the one member the damage cut in two, so only whole files remain."""
    bad = next((c for c in plan.manifest.chunks if c.key in error), None)
    if bad is None:
        return None
    members = plan.members
    if members is None:
        try:
            members = restorer.member_index(set_folder + plan.manifest.backup_id + "/", plan.manifest)
        except S3napbackError:
            members = None
    cut = member_at(members or [], bad.offset)
    if cut is None or cut.is_dir:
        return None
    path = os.path.join(staging, cut.name)
    if os.path.lexists(path) and not os.path.isdir(path):
        os.unlink(path)
    return cut.name


def name_path(manifest: Manifest) -> str:
    return member_path(manifest.source, "/")


def refuse_links_out(destination: str, members: t.Sequence[str]) -> None:
    """--overwrite extracts into a folder that already holds things; tar follows a symbolic link it finds where
    it makes the folders above the set (or above a --path). Refuse one that leads out of the destination."""
    root = os.path.realpath(destination)
    looked_at: t.Set[str] = set()
    for member in members:
        folders_above = [part for part in member.split("/") if part][:-1]
        path = destination
        for part in folders_above:
            path = os.path.join(path, part)
            if path not in looked_at and os.path.islink(path):
                target = os.path.realpath(path)
                if os.path.commonpath([root, target]) != root:
                    raise RestoreError(
                        f"{path} is a symbolic link to {target}, outside the destination; "
                        "remove it, or restore into an empty folder"
                    )
            looked_at.add(path)


def _extract_chain(restorer: Restorer, set_folder: str, plans: t.Sequence[BackupPlan], destination: str) -> None:
    for plan in plans:
        _extract(restorer, set_folder, plan, destination)
