# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check that committed backups can be restored, without restoring them.

Three depths: ``objects`` (every object present with the size its manifest gives: a listing, cheap),
``data`` (download every object and check its SHA-256), ``archive`` (also decrypt with the private key,
decompress and have tar read the whole archive). A backup is good when it and every backup its chain needs
pass; the report gives, per set, the newest good backup, its age, the range of moments that can be
restored, and every problem, each naming its object.
"""

from __future__ import annotations

import datetime
import subprocess
import typing as t
from concurrent.futures import ThreadPoolExecutor

from .catalog import Chunk, Manifest, SetListing, chain_of
from .chunks import Progress
from .errors import S3napbackError
from .inventory import age_hours, describe_set, load_or_problem, parse_utc
from .pipeline import Stage
from .restore import Restorer, check_object

LEVELS = ("objects", "data", "archive")


def _object_problems(listing: SetListing, manifest: Manifest) -> t.List[str]:
    stored = dict(listing.keys.get(manifest.backup_id, []))
    problems = []
    for chunk in manifest.objects():
        key = listing.prefix + manifest.backup_id + "/" + chunk.key
        if key not in stored:
            problems.append(f"chunk {chunk.key} of backup {manifest.backup_id} is missing from the bucket")
        elif stored[key] != chunk.size:
            problems.append(
                f"chunk {chunk.key} of backup {manifest.backup_id} has {stored[key]} bytes, "
                f"the manifest says {chunk.size}"
            )
    return problems


def _data_problems(store: t.Any, listing: SetListing, manifest: Manifest, parallel: int) -> t.List[str]:
    folder = listing.prefix + manifest.backup_id + "/"

    def check(chunk: Chunk) -> t.Optional[str]:
        try:
            check_object(store.get(folder + chunk.key), chunk, manifest)
        except S3napbackError as exc:
            return str(exc)
        return None

    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="s3napback-verify") as pool:
        return [problem for problem in pool.map(check, manifest.objects()) if problem]


def _archive_problems(
    store: t.Any, listing: SetListing, manifest: Manifest, gnupghome: t.Optional[str], parallel: int
) -> t.List[str]:
    restorer = Restorer(store, parallel=parallel, gnupghome=gnupghome, progress=Progress())
    if manifest.source_kind == "directory":
        reader = Stage("tar", ["tar", "--list", "--file=-", "--listed-incremental=/dev/null"])
    else:  # a dump: decrypting and decompressing all of it is the check
        reader = Stage("cat", ["cat"])
    try:
        restorer.stream_whole(listing.prefix + manifest.backup_id + "/", manifest, reader, stdout=subprocess.DEVNULL)
    except S3napbackError as exc:
        return [str(exc)]
    return []


def verify_set(
    store: t.Any,
    listing: SetListing,
    host: str,
    name: str,
    *,
    level: str = "objects",
    gnupghome: t.Optional[str] = None,
    parallel: int = 4,
    stale_hours: t.Optional[float] = None,
    now: datetime.datetime,
) -> t.Dict[str, t.Any]:
    """The report of one set: what describe_set says, plus problems, the newest good backup and a status.

    Status: ``ok``; ``stale`` (the newest good backup is older than ``stale_hours``); ``broken`` (a
    committed backup fails a check or misses a backup of its chain); ``missing`` (nothing is stored).
    """
    if level not in LEVELS:
        raise ValueError(f"unknown verify level {level!r}")
    report = describe_set(listing, host, name, now)
    problems: t.Dict[str, t.List[str]] = {}
    ordered = sorted(listing.committed, key=lambda m: m.seq)
    for manifest in ordered:
        found = _object_problems(listing, manifest)
        if not found and level in ("data", "archive"):
            found = _data_problems(store, listing, manifest, parallel)
        if not found and level == "archive":
            found = _archive_problems(store, listing, manifest, gnupghome, parallel)
        try:
            chain_of(manifest, listing.committed)
        except S3napbackError as exc:
            found.append(str(exc))
        if found:
            problems[manifest.backup_id] = found
    good = [m for m in ordered if not any(b.backup_id in problems for b in _chain_or_self(m, listing.committed))]
    last_good = good[-1] if good else None
    report.update(
        level=level,
        # (each backup after a missing link names that same link: said once)
        problems=list(dict.fromkeys(p for manifest in ordered for p in problems.get(manifest.backup_id, []))),
        good=[m.backup_id for m in good],
        last_good=last_good.backup_id if last_good else None,
        last_good_finished=last_good.finished if last_good else None,
        last_good_age_hours=age_hours(last_good.finished, now) if last_good else None,
        restorable_from=good[0].finished if good else None,
        restorable_to=last_good.finished if last_good else None,
        stale_hours=stale_hours,
    )
    if not ordered:
        report["status"] = "missing"
        report["problems"].append(f"no committed backup of {name} for host {host}")
    elif report["problems"]:
        report["status"] = "broken"
    elif stale_hours is not None and _age_seconds(report["last_good_finished"], now) > stale_hours * 3600:
        report["status"] = "stale"
        report["problems"].append(
            f"the newest good backup, {report['last_good']}, is {report['last_good_age_hours']:.1f} hours old "
            f"(more than {stale_hours:g})"
        )
    else:
        report["status"] = "ok"
    return report


def verify_named_set(store: t.Any, prefix: str, host: str, name: str, **options: t.Any) -> t.Dict[str, t.Any]:
    """verify_set for a set named in the bucket; one that cannot be listed is ``broken``, with the reason."""
    listing, problem = load_or_problem(store, prefix, host, name)
    report = verify_set(store, listing, host, name, **options)
    if problem is not None:
        report.update(status="broken", problems=[problem])
    return report


def _chain_or_self(manifest: Manifest, committed: t.Sequence[Manifest]) -> t.List[Manifest]:
    try:
        return chain_of(manifest, committed)
    except S3napbackError:
        return [manifest]


def _age_seconds(stamp: str, now: datetime.datetime) -> float:
    moment = parse_utc(stamp)
    return float("inf") if moment is None else (now - moment).total_seconds()
