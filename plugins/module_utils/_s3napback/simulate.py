# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Replay a schedule over days with the same decide() and to_retire() the backups use.

Used by the tests (and by the planner) to see what a policy does over years without touching S3.
"""

from __future__ import annotations

import datetime
import typing as t
from dataclasses import asdict, dataclass, field, replace

from .catalog import Manifest
from .retention import to_retire
from .schedule import EPOCH, FULL, SKIP, Decision, decide

if t.TYPE_CHECKING:  # pragma: no cover
    from .config import Schedule


@dataclass
class Event:
    day: int
    decision: Decision
    made: t.Optional[Manifest]
    retired: t.List[Manifest]
    retained: t.List[Manifest]


@dataclass
class Simulation:
    schedule: Schedule
    committed: t.List[Manifest] = field(default_factory=list)
    events: t.List[Event] = field(default_factory=list)
    snapshot: t.Optional[str] = None  # what the local snapshot file would hash to

    def run_day(self, day: int, *, force: bool = False, lose_snapshot: bool = False) -> Event:
        if lose_snapshot:
            self.snapshot = None
        decision = decide(self.schedule, day, self.committed, force=force, snapshot_sha256=self.snapshot)
        made = None
        retired: t.List[Manifest] = []
        if decision.action != SKIP:
            newest = max(self.committed, key=lambda m: m.seq) if self.committed else None
            seq = newest.seq + 1 if newest else 1
            backup_id = f"b{seq:05d}"
            made = fake_manifest(
                backup_id,
                seq=seq,
                kind=decision.action,
                period=decision.period,
                slot=decision.slot,
                parent=decision.parent,
                full=backup_id if decision.action == FULL or newest is None else newest.full,
                snapshot=f"snar-{backup_id}",
                day=(EPOCH + datetime.timedelta(days=day)).isoformat(),
                schedule=asdict(self.schedule),
            )
            self.committed.append(made)
            self.snapshot = made.snapshot_sha256
            retired = to_retire(self.committed, self.schedule)
            gone = {m.backup_id for m in retired}
            self.committed = [m for m in self.committed if m.backup_id not in gone]
        event = Event(day, decision, made, retired, list(self.committed))
        self.events.append(event)
        return event


_TEMPLATE = Manifest(
    backup_id="",
    set="/sim",
    host="sim",
    kind=FULL,
    source_kind="directory",
    source="/sim",
    seq=0,
    period=0,
    slot=0,
    day="1970-01-01",
    started="",
    finished="",
    parent=None,
    full="",
    chunks=(),
    bytes_read=0,
    bytes_stored=0,
    compression="none",
    compression_level=None,
    encryption="none",
    recipients=(),
    snapshot_sha256=None,
    tool_version="sim",
)


def fake_manifest(backup_id: str, *, snapshot: t.Optional[str] = None, **fields: t.Any) -> Manifest:
    """A manifest with only the fields the schedule and retention look at."""
    return replace(_TEMPLATE, backup_id=backup_id, snapshot_sha256=snapshot, **fields)
