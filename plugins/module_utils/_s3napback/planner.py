# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``s3napback plan``: a set's schedule replayed day by day, from an empty bucket, with the decide() and
retention the backups use: what is made, what is retired, which moments can be restored afterwards and how
much is stored, in units of fulls and diffs. Nothing is read from S3."""

from __future__ import annotations

import datetime
import typing as t
from dataclasses import asdict, dataclass, field

from .schedule import EPOCH, SKIP, epoch_day
from .simulate import Simulation

if t.TYPE_CHECKING:  # pragma: no cover
    from .catalog import Manifest
    from .config import BackupSet, Schedule


@dataclass
class PlanDay:
    day: str
    action: str  # FULL, DIFF or SKIP
    slot: t.Optional[int]
    retired: t.List[str] = field(default_factory=list)  # "YYYY-MM-DD FULL" of each backup retired
    restorable: t.List[str] = field(default_factory=list)  # days of the moments that can be restored
    fulls: int = 0
    diffs: int = 0


@dataclass
class SetPlan:
    set: str
    policy: str
    days: t.List[PlanDay]

    def as_dict(self) -> t.Dict[str, t.Any]:
        return asdict(self)

    @property
    def most_stored(self) -> t.Tuple[int, int]:
        return max(((d.fulls, d.diffs) for d in self.days), default=(0, 0))


def describe_policy(schedule: Schedule) -> str:
    timing = f"Frequency {schedule.frequency}" + (f", Phase {schedule.phase}" if schedule.phase else "")
    if schedule.cycle_type == "HanoiCycle":
        archive = ", ArchiveOldestDisc" if schedule.archive_oldest_disc else ""
        return f"HanoiCycle: {timing}, Discs {schedule.discs}{archive} (fulls only)"
    if schedule.cycle_type == "GFSCycle":
        keeps = [(schedule.keep_daily, "KeepDaily"), (schedule.keep_weekly, "KeepWeekly"),
                 (schedule.keep_monthly, "KeepMonthly"), (schedule.keep_yearly, "KeepYearly")]  # fmt: skip
        kept = ", ".join(f"{name} {n}" for n, name in keeps if n)
        return f"GFSCycle: {timing}, Diffs {schedule.diffs}, {kept}"
    return f"SimpleCycle: {timing}, Diffs {schedule.diffs}, Fulls {schedule.fulls} ({schedule.slots} slots)"


def plan_set(backup_set: BackupSet, start: datetime.date, days: int) -> SetPlan:
    sim = Simulation(backup_set.schedule)
    first = epoch_day(start)
    planned = []
    for day in range(first, first + days):
        event = sim.run_day(day)
        skipped = event.decision.action == SKIP
        planned.append(
            PlanDay(
                day=_iso(day),
                action=event.decision.action,
                slot=None if skipped else event.decision.slot,
                retired=[f"{m.day} {m.kind}" for m in event.retired],
                **retained_summary(event.retained),
            )
        )
    return SetPlan(backup_set.name, describe_policy(backup_set.schedule), planned)


def _iso(day: int) -> str:
    return (EPOCH + datetime.timedelta(days=day)).isoformat()


def stored(fulls: int, diffs: int) -> str:
    """Backups counted in fulls and diffs: 2F+12D."""
    return "+".join(part for part in (f"{fulls}F" if fulls else "", f"{diffs}D" if diffs else "") if part) or "0"


def plan_lines(plan: SetPlan) -> t.Iterator[str]:
    """The plan as a table: restorable moments shown by their age in days on that day."""
    yield f"{plan.set}: {plan.policy}"
    yield f"  {'DAY':<10}  {'MADE':<4}  {'SLOT':>4}  {'STORED':<7}  {'RETIRED':<7}  RESTORABLE (AGES IN DAYS)"
    for entry in plan.days:
        today = datetime.date.fromisoformat(entry.day)
        ages = " ".join(str((today - datetime.date.fromisoformat(d)).days) for d in reversed(entry.restorable))
        made = "-" if entry.action == SKIP else entry.action
        slot = "" if entry.slot is None else str(entry.slot)
        gone = [r.split()[1] for r in entry.retired]
        retired = stored(gone.count("FULL"), len(gone) - gone.count("FULL")) if gone else "-"
        yield f"  {entry.day:<10}  {made:<4}  {slot:>4}  {stored(entry.fulls, entry.diffs):<7}  {retired:<7}  {ages}"
    if plan.days:
        last = plan.days[-1]
        oldest = last.restorable[0] if last.restorable else "none"
        yield (
            f"  after {len(plan.days)} days: {len(last.restorable)} restorable moments (oldest {oldest});"
            f" at most {stored(*plan.most_stored)} stored at once"
        )


def retained_summary(kept: t.Sequence[Manifest]) -> t.Dict[str, t.Any]:
    """What a set holds after a run: its restorable moments and its size in fulls and diffs."""
    ordered = sorted(kept, key=lambda m: m.seq)
    return {
        "restorable": [m.day for m in ordered],
        "fulls": sum(1 for m in ordered if m.kind == "FULL"),
        "diffs": sum(1 for m in ordered if m.kind != "FULL"),
    }
