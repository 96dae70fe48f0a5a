# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which committed backups a set keeps, by its CycleType, and which are retired.

Every policy picks *points* to keep for their own sake; a point is kept with every backup it builds on, so a
FULL stays while any retained DIFF depends on it (the seed's orphaned diffs cannot happen), and the newest
backup is always kept, whatever the policy says.

- SimpleCycle (the seed's): the newest backup of each of the ``Diffs x Fulls`` slots.
- HanoiCycle: the newest backup on each disc; with ArchiveOldestDisc, every backup ever made on the last
  disc (the archive grows by one full every ``2**(Discs-1)`` periods).
- GFSCycle: the newest backup of each of the last KeepDaily days, and the newest FULL (the newest backup
  when there is none) of each of the last KeepWeekly ISO weeks, KeepMonthly months and KeepYearly years that
  have one. A FULL needs nothing else, so the long-lived points cost one full each, not a chain of diffs.
  Counting only the buckets that have a backup means days the host was off never use up the retention, and
  the dates are the backups' own, so a wrong clock now cannot retire anything.
"""

from __future__ import annotations

import datetime
import typing as t

from .catalog import lineage
from .schedule import hanoi_disc, period_of_backup, slot_of

if t.TYPE_CHECKING:  # pragma: no cover
    from .catalog import Manifest
    from .config import Schedule


def retained(committed: t.Sequence[Manifest], schedule: Schedule) -> t.Set[str]:
    """Backup ids the policy keeps: its points, the newest backup, and every backup they build on."""
    if not committed:
        return set()
    points = list(_POINTS[schedule.cycle_type](committed, schedule))
    points.append(max(committed, key=lambda m: m.seq))
    by_id = {m.backup_id: m for m in committed}
    return {m.backup_id for point in points for m in lineage(point, by_id)}


def to_retire(committed: t.Sequence[Manifest], schedule: Schedule) -> t.List[Manifest]:
    keep = retained(committed, schedule)
    return sorted((m for m in committed if m.backup_id not in keep), key=lambda m: m.seq)


def first_retirement(schedule: Schedule, period: int) -> int:
    """The first period in which the policy may retire the backup made in ``period``: a lower bound of its
    life whatever happens later (missed days only make it longer), which is what an Object Lock may cover.

    A backup stays at least until its own slot is reused: SimpleCycle after ``slots`` periods, HanoiCycle's
    disc k after 2**(k+1) periods (the last disc after 2**(Discs-1)); GFSCycle keeps a daily point for
    ``KeepDaily`` backups. The DIFFs built on it often keep it longer, but only when they were made: a
    missed day can end its cycle early, so they give no bound."""
    if schedule.cycle_type == "HanoiCycle":
        disc = hanoi_disc(period, schedule.slots)
        last = schedule.slots - 1
        return period + (2**last if disc == last else 2 ** (disc + 1))
    if schedule.cycle_type == "GFSCycle":
        return period + max(schedule.keep_daily, 1)
    return period + schedule.slots


def retention_bound(schedule: Schedule, made: t.Sequence[Manifest]) -> int:
    """The most backups the policy keeps after ``made`` (one backup per period, none forced)."""
    if schedule.cycle_type == "HanoiCycle":
        archived = sum(1 for m in made if archived_disc(m, schedule)) if schedule.archive_oldest_disc else 0
        return schedule.slots - 1 + max(1, archived)
    if schedule.cycle_type == "GFSCycle":  # each point with its chain, and the newest with its own
        return (schedule.gfs_points + 1) * schedule.cycle_length
    return schedule.slots + schedule.cycle_length - 1  # the slots, and the newest cycle's chain besides


def _newest_by(
    committed: t.Iterable[Manifest],
    bucket: t.Callable[[Manifest], t.Hashable],
    rank: t.Callable[[Manifest], t.Any] = lambda m: m.seq,
) -> t.Dict[t.Any, Manifest]:
    """The best backup of each bucket: the newest, or the highest ``rank``."""
    best: t.Dict[t.Any, Manifest] = {}
    for m in committed:
        key = bucket(m)
        if key not in best or rank(m) > rank(best[key]):
            best[key] = m
    return best


def _simple_points(committed: t.Sequence[Manifest], schedule: Schedule) -> t.Iterable[Manifest]:
    # Slots as the schedule counts them now: the ones stored were counted under the config of the backup's
    # day, and after a change (fewer Fulls, another Frequency) they would keep old backups and drop new ones.
    return _newest_by(committed, lambda m: slot_of(schedule, period_of_backup(schedule, m))).values()


def _hanoi_points(committed: t.Sequence[Manifest], schedule: Schedule) -> t.Iterable[Manifest]:
    points = list(_simple_points(committed, schedule))
    if schedule.archive_oldest_disc:
        points += [m for m in committed if archived_disc(m, schedule)]
    return points


def archived_disc(manifest: Manifest, schedule: Schedule) -> bool:
    """Whether a backup went to the archive when it was made: the last disc of the Discs of its day (stored
    with it), so a changed Discs keeps the archive. Backups without their schedule go by today's."""
    made_under = manifest.schedule
    if not made_under:
        return manifest.slot == schedule.slots - 1
    if made_under.get("cycle_type") != "HanoiCycle" or not made_under.get("archive_oldest_disc"):
        return False
    return manifest.slot == (made_under.get("discs") or 1) - 1


def _gfs_points(committed: t.Sequence[Manifest], schedule: Schedule) -> t.Iterable[Manifest]:
    rules: t.List[t.Tuple[int, t.Callable[[datetime.date], t.Hashable]]] = [
        (schedule.keep_daily, lambda d: d),
        (schedule.keep_weekly, lambda d: d.isocalendar()[:2]),
        (schedule.keep_monthly, lambda d: (d.year, d.month)),
        (schedule.keep_yearly, lambda d: d.year),
    ]
    points: t.List[Manifest] = []
    for number, (count, bucket_of) in enumerate(rules):
        if count:
            daily = number == 0
            best = _newest_by(
                committed,
                lambda m, b=bucket_of: b(backup_day(m)),  # type: ignore[misc]
                (lambda m: m.seq) if daily else (lambda m: (m.kind == "FULL", m.seq)),
            )
            points += [best[key] for key in sorted(best, reverse=True)[:count]]
    return points


def backup_day(manifest: Manifest) -> datetime.date:
    return datetime.date.fromisoformat(manifest.day)


_POINTS: t.Dict[str, t.Callable[[t.Sequence[Manifest], Schedule], t.Iterable[Manifest]]] = {
    "SimpleCycle": _simple_points,
    "HanoiCycle": _hanoi_points,
    "GFSCycle": _gfs_points,
}
