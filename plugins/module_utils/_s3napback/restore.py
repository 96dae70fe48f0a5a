# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Restore a set to a moment: the newest FULL at or before it, then its DIFFs in order.

Chunks are downloaded and decrypted in parallel (each stands alone), checked against the manifest's size and
SHA-256 *before* gpg sees them, and fed in order into one decompressor and GNU tar, which extracts with
incremental semantics (``--listed-incremental=/dev/null``) so files deleted between backups stay deleted.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import subprocess
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from .catalog import Chunk, Manifest, chain_of, load_set, set_prefix
from .chunks import Progress, decompress_stage, keep_large_buffers_off_the_heap
from .errors import PipelineError, RestoreError, S3napbackError
from .keys import decrypt_argv
from .pipeline import Chain, Stage, close_quietly, write_all
from .progress import ProgressLine

log = logging.getLogger(__name__)


@dataclass
class RestoreResult:
    set: str
    host: str
    target: str
    chain: t.List[str]
    destination: str
    bytes_downloaded: int = 0
    bytes_written: int = 0
    chunks: int = 0
    warnings: t.List[str] = field(default_factory=list)

    def as_dict(self) -> t.Dict[str, t.Any]:
        return asdict(self)


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
            day = datetime.date.fromisoformat(at).isoformat()
            candidates = [m for m in ordered if m.day <= day]
        else:
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


def _check_destination(destination: str) -> None:
    if os.path.lexists(destination):
        if not os.path.isdir(destination):
            raise RestoreError(f"destination {destination} exists and is not a folder")
        if os.listdir(destination):
            raise RestoreError(f"destination {destination} is not empty; choose an empty or new folder")
    else:
        try:
            os.makedirs(destination, mode=0o700)
        except OSError as exc:
            raise RestoreError(f"cannot create destination {destination}: {exc.strerror}") from None


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
        f"--directory={destination}",
    ]
    if os.geteuid() == 0:
        argv.insert(2, "--same-owner")
    return Stage("tar", argv)


class Restorer:
    def __init__(
        self, store: t.Any, *, parallel: int = 4, gnupghome: t.Optional[str] = None, show_progress: bool = False
    ) -> None:
        self.store = store
        self.parallel = max(1, parallel)
        self.gnupghome = gnupghome
        self.show_progress = show_progress

    def fetch(self, folder: str, manifest: Manifest, chunk: Chunk) -> bytes:
        """Download one chunk and check it against the manifest; gpg never sees a damaged chunk."""
        data = self.store.get(folder + chunk.key)
        where = f"chunk {chunk.key} of backup {manifest.backup_id}"
        if len(data) != chunk.size:
            raise RestoreError(f"{where} has {len(data)} bytes, the manifest says {chunk.size}: the object is damaged")
        if hashlib.sha256(data).hexdigest() != chunk.sha256:
            raise RestoreError(f"{where} fails its SHA-256 check: the object is corrupted; nothing of it was used")
        return data

    def decrypt_into(self, manifest: Manifest, chunk: Chunk, data: bytes, fd: int) -> None:
        """Run gpg on one chunk with its output going straight into the decompressor (no copy in Python)."""
        where = f"chunk {chunk.key} of backup {manifest.backup_id}"
        gpg = Chain([Stage("gpg", decrypt_argv(self.gnupghome))], stdin=subprocess.PIPE, stdout=fd)
        try:
            write_all(t.cast(t.IO[bytes], gpg.stdin).fileno(), data)
        except BrokenPipeError:
            pass  # gpg gave up early: its exit status and message say why
        finally:
            close_quietly(gpg.stdin)
        try:
            gpg.wait()
        except PipelineError:
            detail = " ".join(gpg.stages[0].stderr_tail.split())
            if "no secret key" in detail.lower():
                raise RestoreError(
                    f"{where}: no private key for it in {self.gnupghome or 'the default GnuPG home'}; "
                    "pass --gnupghome with the backup's private key"
                ) from None
            raise RestoreError(f"{where}: gpg could not decrypt it: {detail[-300:]}") from None

    def extract(self, prefix: str, manifest: Manifest, destination: str, progress: Progress) -> None:
        folder = prefix + manifest.backup_id + "/"
        chain = Chain(
            [*decompress_stage(manifest.compression), tar_extract_stage(destination)],
            stdin=subprocess.PIPE,
            stdout=None,
        )
        fd = t.cast(t.IO[bytes], chain.stdin).fileno()
        pending: t.List[Future] = []
        try:
            with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="s3napback-fetch") as pool:
                chunks = list(manifest.chunks)
                next_index = 0
                for chunk in chunks:
                    # at most `parallel` chunks in memory: the one being written and those downloading
                    while next_index < len(chunks) and len(pending) < self.parallel:
                        pending.append(pool.submit(self.fetch, folder, manifest, chunks[next_index]))
                        next_index += 1
                    data = pending.pop(0).result()
                    progress.add_read(chunk.length)
                    progress.add_uploaded(chunk.size)
                    if manifest.encryption == "gpg":
                        self.decrypt_into(manifest, chunk, data, fd)
                    else:
                        try:
                            write_all(fd, data)
                        except BrokenPipeError:
                            break  # tar or the decompressor gave up: wait() names it
                    del data
        except BaseException:
            for future in pending:
                future.cancel()
            close_quietly(chain.stdin)
            chain.kill()
            raise
        close_quietly(chain.stdin)
        try:
            chain.wait()
        except PipelineError as exc:
            raise RestoreError(f"extracting backup {manifest.backup_id} failed: {exc}") from None


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
) -> RestoreResult:
    """Restore set ``name`` of ``host`` as it was at ``at`` into the empty folder ``destination``."""
    set_folder = set_prefix(prefix, host, name)
    listing = load_set(store, set_folder)
    if not listing.committed:
        raise RestoreError(f"no committed backup of {name} for host {host} in the bucket (under {set_folder})")
    target = resolve_moment(listing.committed, at)
    try:
        chain = chain_of(target, listing.committed)
    except S3napbackError as exc:
        raise RestoreError(str(exc)) from None
    # cheap check of the whole chain before anything is written: every chunk present with its size
    for manifest in chain:
        stored = dict(listing.keys.get(manifest.backup_id, []))
        for chunk in manifest.chunks:
            key = set_folder + manifest.backup_id + "/" + chunk.key
            if key not in stored:
                raise RestoreError(f"chunk {chunk.key} of backup {manifest.backup_id} is missing from the bucket")
            if stored[key] != chunk.size:
                raise RestoreError(
                    f"chunk {chunk.key} of backup {manifest.backup_id} has {stored[key]} bytes, "
                    f"the manifest says {chunk.size}: the object is damaged"
                )
    _check_destination(destination)
    result = RestoreResult(name, host, target.backup_id, [m.backup_id for m in chain], destination)
    keep_large_buffers_off_the_heap()
    restorer = Restorer(store, parallel=parallel, gnupghome=gnupghome)
    progress = Progress()
    line = ProgressLine(f"restore {name}", progress) if show_progress else None
    try:
        for manifest in chain:
            log.info("%s: extracting %s (%s, %d chunks)", name, manifest.backup_id, manifest.kind, len(manifest.chunks))
            restorer.extract(set_folder, manifest, destination, progress)
    finally:
        if line is not None:
            line.stop()
    result.bytes_downloaded = progress.bytes_uploaded
    result.bytes_written = progress.bytes_read
    result.chunks = progress.chunks
    return result
