# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which backup a set gets on a given day, and in which slot (the seed's SimpleCycle, and HanoiCycle's discs).

Days are counted since the epoch (the original counted days of the year and broke every January).
``Frequency F`` groups days into periods of F days; ``Diffs D`` groups periods into cycles of D (the full
included); ``Fulls N`` keeps N cycles, so a set has ``N x D`` slots and period p lands in slot ``p mod N*D``.
A set gets at most one backup per period: the first run in a period makes it, later runs skip unless forced.
The first backup of a cycle is the FULL, the others are DIFFs on top of the newest committed backup.
"""

from __future__ import annotations

import datetime
import re
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:  # pragma: no cover
    from .catalog import Manifest
    from .config import Schedule

EPOCH = datetime.date(1970, 1, 1)
FULL = "FULL"
DIFF = "DIFF"
SKIP = "SKIP"


def epoch_day(day: datetime.date) -> int:
    """Days since 1970-01-01."""
    return (day - EPOCH).days


def period_of(schedule: Schedule, day: int) -> int:
    """The period (of ``frequency`` days, shifted by ``phase``) that contains the epoch day."""
    return (day - schedule.phase) // schedule.frequency


def period_of_backup(schedule: Schedule, manifest: Manifest) -> int:
    """The period of a committed backup under the schedule as it is now: the one stored in its manifest was
    counted under the schedule of its day, which a changed Frequency or Phase makes meaningless."""
    return period_of(schedule, epoch_day(datetime.date.fromisoformat(manifest.day)))


def cycle_of(schedule: Schedule, period: int) -> int:
    return period // schedule.cycle_length


def slot_of(schedule: Schedule, period: int) -> int:
    if schedule.cycle_type == "HanoiCycle":
        return hanoi_disc(period, schedule.slots)
    return period % schedule.slots


def hanoi_disc(period: int, discs: int) -> int:
    """The Tower-of-Hanoi disc of a period: disc k is used every 2**(k+1) periods, the last one every
    2**(discs-1), so the newest backups on the discs are about 1, 2, 4, ... periods old."""
    number = period + 1  # 1, 2, 3, ...: the trailing zero bits of the period's number
    return min((number & -number).bit_length() - 1, discs - 1)


def nominal_kind(schedule: Schedule, period: int) -> str:
    """FULL or DIFF by the calendar alone, as the seed computed it."""
    return FULL if period % schedule.cycle_length == 0 else DIFF


@dataclass(frozen=True)
class Decision:
    action: str  # FULL, DIFF or SKIP
    period: int
    slot: int
    reason: str
    parent: t.Optional[str] = None  # backup id a DIFF builds on
    error: t.Optional[str] = None  # a SKIP that must fail the set: nothing is backed up until it is mended


def decide(
    schedule: Schedule,
    day: int,
    committed: t.Sequence[Manifest],
    *,
    force: bool = False,
    snapshot_sha256: t.Optional[str] = None,
) -> Decision:
    """Decide what to do for one set on epoch day ``day``.

    ``committed`` are the set's committed backups (any order). ``snapshot_sha256`` is the hash of the local
    tar snapshot file, or None when it is missing; a DIFF is only possible when it matches the snapshot the
    newest backup left behind, so a lost or stale snapshot file, or a missing base, gives a FULL.
    """
    period = period_of(schedule, day)
    slot = slot_of(schedule, period)
    newest = max(committed, key=lambda m: m.seq) if committed else None
    newest_period = period_of_backup(schedule, newest) if newest is not None else None

    if newest is not None and not force:
        if newest_period == period:
            return Decision(SKIP, period, slot, f"already backed up in this period ({newest.backup_id})")
        if t.cast(int, newest_period) > period:
            today = (EPOCH + datetime.timedelta(days=day)).isoformat()
            problem = (
                f"the newest backup {newest.backup_id} is from {newest.day}, after today ({today}): if the clock "
                "is right, back up once with force (-f) to go on; until then no backup is made"
            )
            return Decision(SKIP, period, slot, problem, error=problem)

    if schedule.cycle_type == "HanoiCycle":
        return Decision(FULL, period, slot, "HanoiCycle makes fulls only")
    if schedule.cycle_length <= 1:
        return Decision(FULL, period, slot, "every backup is full (Diffs 0 or 1)")
    if newest is None:
        return Decision(FULL, period, slot, "no committed backup yet")
    if cycle_of(schedule, t.cast(int, newest_period)) != cycle_of(schedule, period):
        reason = "first backup of a new cycle"
        if nominal_kind(schedule, period) != FULL:
            reason += " (the full's own day was missed)"
        return Decision(FULL, period, slot, reason)
    if snapshot_sha256 is None:
        return Decision(FULL, period, slot, "the tar snapshot file is missing")
    if newest.snapshot_sha256 != snapshot_sha256:
        return Decision(FULL, period, slot, "the tar snapshot file does not match the newest backup")
    by_id = {m.backup_id: m for m in committed}
    if not chain_complete(newest, by_id):
        return Decision(FULL, period, slot, f"the chain of {newest.backup_id} is incomplete")
    return Decision(DIFF, period, slot, f"incremental on {newest.backup_id}", parent=newest.backup_id)


def chain_complete(manifest: Manifest, by_id: t.Mapping[str, Manifest]) -> bool:
    """True when every backup ``manifest`` needs, back to its FULL, is committed."""
    seen = set()
    current = manifest
    while current.kind != FULL:
        if current.parent is None or current.parent in seen or current.parent not in by_id:
            return False
        seen.add(current.backup_id)
        current = by_id[current.parent]
    return True


def parse_day(text: str) -> datetime.date:
    """A day written YYYY-MM-DD, and only so on every Python: 3.11's fromisoformat also takes 20261201 and
    2026-W49-2, which 3.9's refuses. Raises ValueError."""
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            return datetime.date.fromisoformat(text)
    except ValueError:  # 2026-02-30
        pass
    raise ValueError(f"expected YYYY-MM-DD, got {text!r}")
