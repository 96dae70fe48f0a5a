# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the bucket holds for a host: every set, every backup with its chain, slot, age and size.

Shared by ``s3napback list``, ``s3napback verify`` and the ``backup_info`` module.
"""

from __future__ import annotations

import datetime
import typing as t

from .catalog import Manifest, SetListing, chain_of, list_sets, load_set, set_prefix
from .errors import S3napbackError


def parse_utc(stamp: str) -> t.Optional[datetime.datetime]:
    try:
        return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def age_hours(stamp: str, now: datetime.datetime) -> t.Optional[float]:
    moment = parse_utc(stamp)
    return None if moment is None else round((now - moment).total_seconds() / 3600, 2)


def chain_ids(manifest: Manifest, committed: t.Sequence[Manifest]) -> t.Optional[t.List[str]]:
    """The backups a restore of ``manifest`` needs, oldest first; None when one of them is gone."""
    try:
        return [m.backup_id for m in chain_of(manifest, committed)]
    except S3napbackError:
        return None


def backup_row(manifest: Manifest, listing: SetListing, host: str, now: datetime.datetime) -> t.Dict[str, t.Any]:
    chain = chain_ids(manifest, listing.committed)
    return {
        "host": host,
        "set": manifest.set,
        "backup_id": manifest.backup_id,
        "kind": manifest.kind,
        "base": manifest.parent,
        "full": manifest.full,
        "chain": chain or [],
        "restorable": chain is not None,  # from the catalog; `verify` checks the objects too
        "slot": manifest.slot,
        "day": manifest.day,
        "finished": manifest.finished,
        "age_hours": age_hours(manifest.finished, now),
        "bytes_read": manifest.bytes_read,
        "bytes_stored": manifest.bytes_stored,
        "chunks": len(manifest.chunks),
        "partial_restore": manifest.index is not None,
    }


def set_names(store: t.Any, prefix: str, host: str, configured: t.Sequence[str] = ()) -> t.List[str]:
    """The configured sets and every set the bucket holds anything of, for ``host``."""
    return sorted({*configured, *list_sets(store, prefix, host)})


def load(store: t.Any, prefix: str, host: str, name: str) -> SetListing:
    return load_set(store, set_prefix(prefix, host, name))


def load_or_problem(store: t.Any, prefix: str, host: str, name: str) -> t.Tuple[SetListing, t.Optional[str]]:
    """A set's listing, or an empty one and why it could not be read (an unreadable manifest, say): a report
    over many sets names the one that is broken and goes on with the others."""
    try:
        return load(store, prefix, host, name), None
    except S3napbackError as exc:
        return SetListing(set_prefix(prefix, host, name), [], {}, {}), str(exc)


def describe_set(listing: SetListing, host: str, name: str, now: datetime.datetime) -> t.Dict[str, t.Any]:
    """One set: its backups (oldest first), the moments it can be restored to, and failed runs' leftovers."""
    rows = [backup_row(m, listing, host, now) for m in sorted(listing.committed, key=lambda m: m.seq)]
    restorable = [r for r in rows if r["restorable"]]
    newest = rows[-1] if rows else None
    return {
        "host": host,
        "set": name,
        "backups": rows,
        "restorable": [{"backup_id": r["backup_id"], "finished": r["finished"]} for r in restorable],
        "oldest_restorable": restorable[0]["finished"] if restorable else None,
        "newest_restorable": restorable[-1]["finished"] if restorable else None,
        "newest": newest["backup_id"] if newest else None,
        "newest_age_hours": newest["age_hours"] if newest else None,
        "bytes_stored": sum(r["bytes_stored"] for r in rows),
        "incomplete": sorted(listing.leftovers),
        "lost": sorted(listing.lost_manifests()),  # of those, the ones committed backups build on
    }


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)
