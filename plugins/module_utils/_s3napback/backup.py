# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the backup sets of a config: decide, stream, commit, then retire what the policy drops.

Order of events for one set, which is what keeps every earlier backup safe:
1. list the set's folder; remove leftovers of failed runs (folders without a manifest);
2. decide FULL / DIFF / SKIP from the date, the config and the catalog;
3. stream tar -> compressor -> gpg -> chunks -> S3, with tar writing a *new* snapshot file;
4. write the manifest (the commit), then move the new snapshot file over the old one;
5. retire backups the set's CycleType no longer keeps, manifest first, and never one a retained DIFF needs.
A failure before 4 deletes what was uploaded and the new snapshot file: nothing changes.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import time
import typing as t
from dataclasses import asdict, dataclass, field, replace

from . import __version__
from .catalog import (
    INDEX_STEM,
    MANIFEST_NAME,
    Chunk,
    Manifest,
    SetListing,
    chunk_suffix,
    lineage,
    list_sets,
    load_set,
    set_key,
    set_prefix,
)
from .chunks import Encoder, Progress, compress_stage, upload_stream
from .config import BackupSet, Config
from .errors import ConfigError, PipelineError, S3napbackError, stop_reason
from .keys import Keyring, encrypt_argv, usable_recipients
from .lock import RunLock
from .pipeline import Chain, Stage
from .placement import Placement, locked_until, placement_for
from .planner import retained_summary
from .progress import ProgressLine
from .renames import interlocked_renames, read_snapshot, tree_folders
from .report import RunReport, describe
from .retention import to_retire
from .s3 import S3Settings, S3Store
from .schedule import DIFF, FULL, SKIP, decide, epoch_day
from .sources import (
    DumpPlan,
    directory_problem,
    mysql_dump_plan,
    postgres_dump_plan,
    repositories_in,
    svn_dump_plan,
    svn_revision_mark,
    svn_state,
)
from .space import out_of_space

log = logging.getLogger(__name__)

# A set the run was stopped in: its upload is removed (or, stopped after the commit, the backup stands and
# only the retiring of old ones waits for the next run).
STOPPED = "stopped before the set was done; the next run takes it up"


@dataclass
class SetResult:
    """What happened to one set; also the per-set part of the module's result and of --json."""

    set: str
    action: str  # FULL, DIFF, SKIP (nothing due), FAILED; with test mode: what would be done
    reason: str = ""
    backup_id: t.Optional[str] = None
    slot: t.Optional[int] = None
    parent: t.Optional[str] = None
    bytes_read: int = 0
    bytes_uploaded: int = 0
    chunks: int = 0
    seconds: float = 0.0
    retired: t.List[str] = field(default_factory=list)
    locked: t.List[str] = field(default_factory=list)  # retired by the policy, but their Object Lock holds
    leftovers_removed: t.List[str] = field(default_factory=list)
    warnings: t.List[str] = field(default_factory=list)
    error: t.Optional[str] = None
    test: bool = False
    # what the set holds after the run (in test mode: would hold): restorable days, fulls, diffs
    after: t.Optional[t.Dict[str, t.Any]] = None
    newest_finished: t.Optional[str] = None  # when the set's newest committed backup finished (UTC ISO 8601)

    @property
    def uploaded(self) -> bool:
        return self.action in (FULL, DIFF) and not self.test

    def as_dict(self) -> t.Dict[str, t.Any]:
        return asdict(self)


def store_settings(config: Config) -> S3Settings:
    return S3Settings(
        bucket=t.cast(str, config.bucket),  # require_for_backup() or the caller checked it
        endpoint_url=config.s3_endpoint,
        region=config.s3_region,
        addressing_style=config.s3_addressing_style,
        key_file=config.s3_key_file,
    )


def open_store(config: Config) -> S3Store:
    """The config's bucket, checked to exist and be reachable: what list, verify and restore do first."""
    if not config.bucket:
        raise ConfigError(f"{config.source}: no Bucket directive; add 'Bucket NAME'")
    store = S3Store(store_settings(config))
    store.check_bucket()
    return store


def file_sha256(path: str) -> t.Optional[str]:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return None


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class BackupRun:
    """One invocation: a config, a day, the store, and the recipients, for one or more sets."""

    def __init__(
        self,
        config: Config,
        *,
        day: t.Optional[datetime.date] = None,
        force: bool = False,
        test: bool = False,
        store: t.Optional[S3Store] = None,
        show_progress: bool = False,
    ) -> None:
        config.require_for_backup()
        self.config = config
        self.diff_dir = t.cast(str, config.diff_dir)  # checked by require_for_backup()
        self.day = day or datetime.date.today()
        self.force = force
        self.test = test
        self.store = store or S3Store(store_settings(config))
        self.show_progress = show_progress
        self.fingerprints: t.List[str] = []
        self.keyring: t.Optional[Keyring] = None  # by preflight(): a keyring that is not there is a failed run

    # -- preflight ------------------------------------------------------------------------------------------
    def preflight(self) -> None:
        """Fail early, once, on what would fail every set: the keys, the bucket, the snapshot folder."""
        if self.config.encryption == "gpg":
            self.keyring = Keyring.from_config(self.config.gpg_keyring)
            self.fingerprints = usable_recipients(self.keyring, self.config.gpg_recipients)
        self.store.check_bucket()
        if not self.test:
            try:
                os.makedirs(self.diff_dir, mode=0o700, exist_ok=True)
            except OSError as exc:
                raise S3napbackError(f"DiffDir {self.config.diff_dir}: cannot create it: {exc.strerror}") from None

    def run(self, sets: t.Sequence[BackupSet]) -> t.List[SetResult]:
        results: t.List[SetResult] = []  # filled set by set, so a failed or stopped run reports what it did
        if self.test:  # the seed's test mode tells nobody: it uploads nothing
            self.preflight()
            self._run_sets(sets, results)
            return results
        report = RunReport(self.config)
        report.start()
        try:
            self.preflight()
            with RunLock(os.path.join(self.diff_dir, ".s3napback.lock")):
                self._run_sets(sets, results)
        except S3napbackError as exc:
            report.finish(results, error=str(exc))
            raise
        except Exception as exc:  # a defect: still say the run failed, then let the command name it
            report.finish(results, error=f"internal error: {type(exc).__name__}: {exc}")
            raise
        except KeyboardInterrupt as stop:
            # Stopped (systemd, a shutdown, Ctrl-C), and cleaned up by now: say so at once, or nobody hears of
            # the missing backup before the heartbeat's grace time runs out or the next run's report.
            stopped = [r.set for r in results if r.error == STOPPED]
            where = f" while backing up {stopped[0]}" if stopped else ""
            report.finish(results, error=stop_reason(stop) + where)
            raise
        report.finish(results)
        return results

    def _run_sets(self, sets: t.Sequence[BackupSet], results: t.List[SetResult]) -> None:
        expanded, vanished = self.expand(sets)
        for backup_set in expanded:
            self._run_set(backup_set, results)
        for folder, names in vanished.items():
            for name in names:
                note = f"{name} is no longer a repository in {folder[3:]}; its backups are kept until you remove them"
                log.warning("%s", note)
                results.append(SetResult(set=name, action=SKIP, reason=note, test=self.test, warnings=[note]))

    # -- one set --------------------------------------------------------------------------------------------
    def _run_set(self, backup_set: BackupSet, results: t.List[SetResult]) -> None:
        started = time.monotonic()
        result = SetResult(set=backup_set.name, action=SKIP, test=self.test)
        try:
            self._backup_set(backup_set, result)
        except S3napbackError as exc:
            result.action = "FAILED"
            result.error = str(exc)
            log.error("%s: %s", backup_set.name, exc)
        except KeyboardInterrupt:
            result.action, result.error = "FAILED", STOPPED
            result.seconds = round(time.monotonic() - started, 3)
            log.error("%s: %s", backup_set.name, STOPPED)
            results.append(result)
            raise
        result.seconds = round(time.monotonic() - started, 3)
        log.info("%s", describe(result))
        results.append(result)

    def _backup_set(self, backup_set: BackupSet, result: SetResult) -> None:
        if backup_set.kind == "subversiondir":  # expand() could not list its repositories: say why
            repositories_in(backup_set.source)
            raise S3napbackError(f"SubversionDir {backup_set.source}: no repositories can be listed in it")
        prefix = set_prefix(self.config.s3_prefix, self.config.host_name, backup_set.name)
        listing = load_set(self.store, prefix)
        newest = listing.newest()
        result.newest_finished = newest.finished if newest else None
        for backup_id in sorted(listing.lost_manifests()):
            warning = (
                f"{backup_id} has lost its manifest, and the backups built on it cannot be restored; its objects are "
                "kept while they do, and retired with them"
            )
            log.warning("%s: %s", backup_set.name, warning)
            result.warnings.append(warning)
        if listing.failed_runs():
            if self.test:  # what a real run would remove
                result.leftovers_removed = sorted(listing.failed_runs())
            else:
                self._remove_leftovers(listing, result)
        snapshot = self.snapshot_path(backup_set)
        svn = svn_state(backup_set.source) if backup_set.kind == "subversion" else None
        decision = decide(
            backup_set.schedule,
            epoch_day(self.day),
            listing.committed,
            force=self.force,
            snapshot_sha256=svn.identity if svn is not None else file_sha256(snapshot),
        )
        if decision.error:
            raise S3napbackError(decision.error)
        dump: t.Optional[DumpPlan] = None
        if svn is not None:
            decision, dump = self._svn_plan(backup_set, svn, decision, listing)
        elif decision.action == DIFF and backup_set.kind == "directory":
            decision = self._untangled(backup_set, snapshot, decision)
        elif backup_set.kind == "postgresql":
            dump = postgres_dump_plan(backup_set.source, backup_set.options)
        elif backup_set.kind == "mysql":
            dump = mysql_dump_plan(backup_set.source, backup_set.options)
        result.action, result.reason, result.slot, result.parent = (
            decision.action,
            decision.reason,
            decision.slot,
            decision.parent,
        )
        log.info("%s: %s in slot %d (%s)", backup_set.name, decision.action, decision.slot, decision.reason)
        if decision.action == SKIP:
            result.after = retained_summary(listing.committed)
            return
        if self.test:
            placeholder = self.new_manifest("(new)", backup_set, decision, listing.newest())
            committed = [*listing.committed, placeholder]
            retiring, result.locked = self._unlocked(to_retire(committed, backup_set.schedule))
            result.retired = [m.backup_id for m in retiring]
            result.after = retained_summary([m for m in committed if m not in retiring])
            return
        problem = directory_problem(backup_set.source) if backup_set.kind == "directory" else None
        if problem:
            raise S3napbackError(f"{backup_set.origin}: {problem}")

        manifest = self._stream(backup_set, listing, decision, snapshot, newest, result, dump)
        result.backup_id = manifest.backup_id
        result.newest_finished = manifest.finished
        committed = [*listing.committed, manifest]
        retiring, result.locked = self._unlocked(to_retire(committed, backup_set.schedule))
        for backup_id in result.locked:
            log.info(
                "%s: %s is due to be retired but kept for an Object Lock (its own, or that of a backup built on it); "
                "a later run retires it",
                backup_set.name,
                backup_id,
            )
        # Newest first, and never the base of one that could not go: a run stopped or failing halfway leaves
        # whole chains behind, never DIFFs without their FULL.
        by_id = {m.backup_id: m for m in retiring}
        held: t.Set[str] = set()
        for old in reversed(retiring):
            if old.backup_id in held:
                continue
            try:
                self._delete_backup(listing, old.backup_id)
            except S3napbackError as exc:  # the new backup is committed all the same; the next run retries
                warning = f"could not retire {old.backup_id} ({exc}); the next run tries again"
                log.warning("%s: %s", backup_set.name, warning)
                result.warnings.append(warning)
                held.update(m.backup_id for m in lineage(old, by_id))
                continue
            result.retired.insert(0, old.backup_id)
            log.info("%s: retired %s (%s, slot %d)", backup_set.name, old.backup_id, old.kind, old.slot)
        result.after = retained_summary([m for m in committed if m.backup_id not in result.retired])

    def _unlocked(self, retiring: t.List[Manifest]) -> t.Tuple[t.List[Manifest], t.List[str]]:
        """Split what the policy retires into what may go now and the ids kept for an Object Lock that still
        holds: a locked backup's own, and those of the backups it builds on, or it could not be restored."""
        now = datetime.datetime.now(datetime.timezone.utc)
        by_id = {m.backup_id: m for m in retiring}
        kept = {m.backup_id for locked in retiring if locked_until(locked, now) for m in lineage(locked, by_id)}
        return [m for m in retiring if m.backup_id not in kept], [m.backup_id for m in retiring if m.backup_id in kept]

    def new_manifest(
        self, backup_id: str, backup_set: BackupSet, decision: t.Any, newest: t.Optional[Manifest], **fields: t.Any
    ) -> Manifest:
        """The manifest of the backup ``decision`` makes; ``fields`` fill in what only the upload knows."""
        values: t.Dict[str, t.Any] = dict(
            backup_id=backup_id,
            set=backup_set.name,
            host=self.config.host_name,
            kind=decision.action,
            source_kind=backup_set.kind,
            source=backup_set.source,
            seq=(newest.seq + 1) if newest else 1,
            period=decision.period,
            slot=decision.slot,
            day=self.day.isoformat(),
            started="",
            finished="",
            parent=decision.parent,
            full=backup_id if decision.action == FULL or newest is None else newest.full,
            chunks=(),
            bytes_read=0,
            bytes_stored=0,
            compression=self.config.compression,
            compression_level=self.config.compression_level,
            encryption=self.config.encryption,
            recipients=tuple(self.fingerprints),
            snapshot_sha256=None,
            tool_version=__version__,
            schedule=asdict(backup_set.schedule),
        )
        values.update(fields)
        return Manifest(**values)

    def _svn_plan(
        self, backup_set: BackupSet, svn: t.Any, decision: t.Any, listing: SetListing
    ) -> t.Tuple[t.Any, DumpPlan]:
        """A DIFF continues from the revision the newest backup reached; a rolled-back repository gets a FULL."""
        since = None
        repo = backup_set.source
        if decision.action == DIFF:
            newest = t.cast(Manifest, listing.newest())
            reached, mark = newest.source_state.get("revision"), newest.source_state.get("revision_mark")
            if not isinstance(reached, int) or reached > svn.youngest:
                decision = replace(decision, action=FULL, parent=None, reason="the repository is older than its backup")
            elif mark is not None and svn_revision_mark(repo, reached) != mark:
                reason = f"revision {reached} is not the one backed up (the repository was reloaded or rolled back)"
                decision = replace(decision, action=FULL, parent=None, reason=reason)
            else:
                since = reached
        plan = svn_dump_plan(repo, svn, since)
        plan.state["revision_mark"] = svn_revision_mark(repo, svn.youngest)
        return decision, plan

    def _untangled(self, backup_set: BackupSet, snapshot: str, decision: t.Any) -> t.Any:
        """A DIFF, unless folders were renamed into each other's places: GNU tar cannot restore that from one."""
        now = tree_folders(os.path.normpath(backup_set.source), backup_set.excludes)
        tangle = interlocked_renames(read_snapshot(snapshot), now)
        if tangle is None:
            return decision
        reason = f"folders renamed into each other's places ({tangle}), which GNU tar cannot restore from a DIFF"
        return replace(decision, action=FULL, parent=None, reason=reason)

    def expand(self, sets: t.Sequence[BackupSet]) -> t.Tuple[t.List[BackupSet], t.Dict[str, t.List[str]]]:
        """Each repository in a SubversionDir becomes a set of its own; returns also the vanished ones."""
        expanded: t.List[BackupSet] = []
        vanished: t.Dict[str, t.List[str]] = {}
        for backup_set in sets:
            if backup_set.kind != "subversiondir":
                expanded.append(backup_set)
                continue
            try:
                repos = repositories_in(backup_set.source)
            except S3napbackError:  # kept as it is: its run fails with the reason, and the other sets still run
                expanded.append(backup_set)
                continue
            names = {backup_set.name + "/" + os.path.basename(r) for r in repos}
            expanded += [
                replace(backup_set, kind="subversion", source=repo, name=backup_set.name + "/" + os.path.basename(repo))
                for repo in repos
            ]
            stored = list_sets(self.store, self.config.s3_prefix, self.config.host_name)
            gone = [n for n in stored if n.startswith(backup_set.name + "/") and n not in names]
            if gone:
                vanished[backup_set.name] = gone
        return expanded, vanished

    def snapshot_path(self, backup_set: BackupSet) -> str:
        return os.path.join(self.diff_dir, set_key(backup_set.name) + ".snar")

    def new_backup_id(self, kind: str, listing: SetListing) -> str:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%H%M%S")
        base = f"{self.day:%Y%m%d}-{stamp}-{kind.lower()}"
        backup_id, counter = base, 1
        while backup_id in listing.keys:
            counter += 1
            backup_id = f"{base}.{counter}"
        return backup_id

    def tar_stage(self, backup_set: BackupSet, snapshot: str, index_fd: t.Optional[int] = None) -> Stage:
        source = os.path.normpath(backup_set.source)
        # The member index: with -v -R, tar writes "block N: NAME" for every member it stores, N being where
        # the member's first header starts in 512-byte blocks. Restores of some paths use it to fetch only
        # the chunks that hold them.
        index = (
            ["--verbose", "--block-number", f"--index-file=/dev/fd/{index_fd}", "--quoting-style=escape"]
            if index_fd is not None
            else []
        )
        argv = [
            "tar",
            "--create",
            "--file=-",
            "--format=posix",
            f"--listed-incremental={snapshot}",
            "--no-check-device",  # device numbers change across reboots/LVM snapshots: not a change of content
            "--acls",
            "--xattrs",
            "--xattrs-include=*",
            "--sparse",
            "--directory=/",
            *index,
        ]
        argv += [f"--exclude={pattern}" for pattern in backup_set.excludes]
        argv += ["--", source.lstrip("/") or "."]
        # tar exits 1 when a file changed while it was read: the backup is still good, with a warning.
        # -v makes it also report, on stderr, how the snapshot file sees each folder: not a cause of anything.
        return Stage(
            "tar",
            argv,
            warn_codes=(1,),
            pass_fds=(index_fd,) if index_fd is not None else (),
            quiet=(b"Directory is new", b"Directory has been renamed", b"Directory is new."),
        )

    def _stream(
        self,
        backup_set: BackupSet,
        listing: SetListing,
        decision: t.Any,
        snapshot: str,
        newest: t.Optional[Manifest],
        result: SetResult,
        dump: t.Optional[DumpPlan] = None,
    ) -> Manifest:
        config = self.config
        backup_id = self.new_backup_id(decision.action, listing)
        folder = listing.prefix + backup_id + "/"
        suffix = chunk_suffix(config.compression, config.encryption)
        index_key = INDEX_STEM + chunk_suffix(config.compression, config.encryption, stem=".txt")
        new_snapshot = snapshot + ".new"
        if os.path.exists(new_snapshot):
            os.unlink(new_snapshot)
        if decision.action == DIFF and dump is None:
            try:
                with open(snapshot, "rb") as src, open(new_snapshot, "wb") as dst:
                    dst.write(src.read())
            except OSError as exc:  # nothing uploaded yet, the old snapshot file untouched
                full = out_of_space(exc, self.diff_dir)
                _unlink_quietly(new_snapshot)
                if full:
                    raise self.diff_dir_full(f"copying the snapshot file for the DIFF: {exc.strerror}") from None
                raise S3napbackError(f"cannot copy the snapshot file {snapshot} for the DIFF: {exc.strerror}") from None
        placement = placement_for(config, backup_set, decision.period, decision.slot)
        started = utc_now()
        progress = Progress()
        line = ProgressLine(backup_set.name, progress) if self.show_progress else None
        uploaded_any = False

        def stages() -> t.List[Stage]:
            encoder = compress_stage(config.compression, config.compression_level)
            if config.encryption == "gpg":  # from the config, never from what happens to be set: no plaintext
                if self.keyring is None:
                    raise S3napbackError("internal error: encryption without the recipients' keyring")
                encoder.append(Stage("gpg", encrypt_argv(self.keyring, self.fingerprints)))
            return encoder

        index_read, index_write = os.pipe()
        try:
            producer = dump.stage if dump is not None else self.tar_stage(backup_set, new_snapshot, index_write)
            tar = Chain([producer], stdin=None, stdout=-1)
        finally:
            os.close(index_write)  # tar holds it now; its end of file is tar's exit (a dumper never had it)
        try:
            member_index = Encoder(stages(), source=index_read)
        except BaseException:
            os.close(index_read)
            tar.kill()
            raise
        if member_index.chain is not None:
            os.close(index_read)  # the compressor holds it now

        def put(index: int, data: memoryview, digest: bytes) -> str:
            nonlocal uploaded_any
            uploaded_any = True
            return self.store.put(folder + chunk_name(index, suffix), data, digest, placement.storage_class)

        try:
            chunks, warnings, server_check = upload_stream(
                t.cast(t.IO[bytes], tar.stdout).fileno(),
                put=put,
                chunk_key=lambda index: chunk_name(index, suffix),
                chunk_size=config.chunk_size,
                parallel=config.parallel,
                stages=stages,
                progress=progress,
            )
            warnings = tar.wait() + warnings
            warnings += member_index.finish()
            if member_index.chain is None:
                os.close(index_read)
            index_object: t.Optional[Chunk] = None
            if dump is None:
                index_check = self.store.put(
                    folder + index_key,
                    member_index.output.view(),
                    member_index.digest.digest(),
                    placement.storage_class,
                )
                if index_check != "verified":
                    server_check = index_check
                index_object = Chunk(-1, index_key, 0, 0, member_index.output.length, member_index.digest.hexdigest())
            for warning in warnings:
                log.warning("%s: %s", backup_set.name, warning)
            result.warnings.extend(warnings)
            snapshot_sha256 = dump.identity if dump is not None else file_sha256(new_snapshot)
            if snapshot_sha256 is None and dump is None:
                raise PipelineError(f"tar did not write its snapshot file {new_snapshot}")
            manifest = self.new_manifest(
                backup_id,
                backup_set,
                decision,
                newest,
                started=started,
                finished=utc_now(),
                chunks=tuple(chunks),
                bytes_read=progress.bytes_read,
                bytes_stored=sum(c.size for c in chunks) + (index_object.size if index_object else 0),
                snapshot_sha256=snapshot_sha256,
                server_checksum=server_check,
                index=index_object,
                source_state=dump.state if dump is not None else {},
                **placement.manifest_fields(),
            )
            raw = manifest.to_json()
            # the commit: from here on the backup exists
            self.store.put(folder + MANIFEST_NAME, raw, hashlib.sha256(raw).digest())
        except BaseException as exc:
            tar.kill()
            member_index.kill()
            # tar writing its snapshot file into a full DiffDir; asked before the .new file's space is freed
            full = dump is None and isinstance(exc, PipelineError) and out_of_space(exc, self.diff_dir)
            _unlink_quietly(new_snapshot)
            if uploaded_any or isinstance(exc, KeyboardInterrupt):
                self._delete_folder_quietly(folder)
            if full:
                raise self.diff_dir_full(str(exc)) from None
            if isinstance(exc, S3napbackError) or not isinstance(exc, Exception):
                raise
            raise S3napbackError(f"backup failed: {type(exc).__name__}: {exc}") from None
        finally:
            member_index.output.close()
            if line is not None:
                line.stop()
        if dump is None:
            os.replace(new_snapshot, snapshot)
        self._lock(folder, manifest, placement, result)
        result.bytes_read = manifest.bytes_read
        result.bytes_uploaded = manifest.bytes_stored
        result.chunks = len(manifest.chunks)
        log.info(
            "%s: committed %s (%s, %d chunks, %d bytes read, %d stored)",
            backup_set.name,
            backup_id,
            manifest.kind,
            result.chunks,
            result.bytes_read,
            result.bytes_uploaded,
        )
        return manifest

    def diff_dir_full(self, detail: str) -> S3napbackError:
        return S3napbackError(f"DiffDir {self.diff_dir}: No space left on device; free space there ({detail})")

    # -- cleaning up ----------------------------------------------------------------------------------------
    def _lock(self, folder: str, manifest: Manifest, placement: Placement, result: SetResult) -> None:
        """Lock every object of the committed backup; a backup whose lock failed is still a good backup."""
        if placement.retain_until is None or placement.lock_mode is None:
            return
        if placement.retain_until <= datetime.datetime.now(datetime.timezone.utc):
            log.info("%s: not locked: its retain-until %s has passed", manifest.backup_id, manifest.retain_until)
            return
        keys = [folder + c.key for c in manifest.objects()] + [folder + MANIFEST_NAME]
        try:
            for key in keys:
                self.store.retain(key, placement.lock_mode, placement.retain_until)
        except S3napbackError as exc:
            warning = f"{manifest.backup_id} is committed but not locked ({exc}); check the bucket's Object Lock"
            log.warning("%s: %s", manifest.set, warning)
            result.warnings.append(warning)

    def _remove_leftovers(self, listing: SetListing, result: SetResult) -> None:
        """Folders without a manifest are failed runs (we hold the host's lock, so none is in progress), unless
        a committed backup builds on them."""
        for backup_id, keys in sorted(listing.failed_runs().items()):
            self.store.delete(keys, all_versions=self.versioned)
            result.leftovers_removed.append(backup_id)
            log.info("%s: removed %d objects left by the failed run %s", listing.prefix, len(keys), backup_id)

    @property
    def versioned(self) -> bool:
        """Object Lock needs a versioned bucket, where deleting a key only hides it: delete its versions."""
        return self.config.object_lock is not None

    def _delete_backup(self, listing: SetListing, backup_id: str) -> None:
        """Manifest first: a half-deleted backup must never look committed."""
        keys = [key for key, _size in listing.keys.get(backup_id, [])]
        manifest_key = listing.prefix + backup_id + "/" + MANIFEST_NAME
        self.store.delete([manifest_key], all_versions=self.versioned)
        self.store.delete([key for key in keys if key != manifest_key], all_versions=self.versioned)

    def _delete_folder_quietly(self, folder: str) -> None:
        try:
            self.store.delete([key for key, _size in self.store.list(folder)], all_versions=self.versioned)
        except S3napbackError as exc:  # the next run removes what is left
            log.warning("could not remove the objects of the failed backup %s: %s", folder, exc)


def chunk_name(index: int, suffix: str) -> str:
    return f"chunk-{index:06d}{suffix}"


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def run_backups(
    config: Config,
    names: t.Sequence[str] = (),
    *,
    day: t.Optional[datetime.date] = None,
    force: bool = False,
    test: bool = False,
    show_progress: bool = False,
) -> t.List[SetResult]:
    """Back up the named sets (all when none are named) of ``config``."""
    sets = config.select(names) if names else list(config.sets)
    return BackupRun(config, day=day, force=force, test=test, show_progress=show_progress).run(sets)
