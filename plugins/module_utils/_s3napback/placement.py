# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How a backup's objects are stored: their storage class, and with ``ObjectLock`` how long S3 itself refuses
to delete them.

The lock lasts until the first day the set's policy may retire the backup (see
``retention.first_retirement``) plus a margin, so the host's own credentials cannot delete or overwrite a
backup before its time, and rotation is never blocked for long: it skips a backup whose lock has not expired,
reports it, and retires it on a later run. Chunks are locked once the manifest committed the backup, so the
leftovers of a failed run stay deletable.
"""

from __future__ import annotations

import datetime
import typing as t
from dataclasses import dataclass

from .errors import S3napbackError
from .retention import first_retirement
from .schedule import EPOCH

if t.TYPE_CHECKING:  # pragma: no cover
    from .catalog import Manifest
    from .config import BackupSet, Config


@dataclass(frozen=True)
class Placement:
    storage_class: t.Optional[str] = None
    lock_mode: t.Optional[str] = None  # GOVERNANCE or COMPLIANCE
    retain_until: t.Optional[datetime.datetime] = None

    def manifest_fields(self) -> t.Dict[str, t.Any]:
        until = self.retain_until.isoformat() if self.retain_until else None
        return {"storage_class": self.storage_class, "lock_mode": self.lock_mode, "retain_until": until}


def placement_for(config: Config, backup_set: BackupSet, period: int, slot: int) -> Placement:
    schedule = backup_set.schedule
    archived = schedule.cycle_type == "HanoiCycle" and schedule.archive_oldest_disc and slot == schedule.slots - 1
    storage_class = backup_set.archive_storage_class if archived else backup_set.storage_class
    if config.object_lock is None:
        return Placement(storage_class)
    first_day = schedule.phase + first_retirement(schedule, period) * schedule.frequency
    try:
        until = datetime.datetime.combine(
            EPOCH + datetime.timedelta(days=first_day + config.object_lock_margin_days),
            datetime.time(),
            tzinfo=datetime.timezone.utc,
        )
    except OverflowError:
        raise S3napbackError(
            f"{backup_set.origin}: ObjectLock would hold this backup past the year 9999; lower Fulls or Frequency"
        ) from None
    return Placement(storage_class, config.object_lock, until)


def locked_until(manifest: Manifest, now: datetime.datetime) -> t.Optional[str]:
    """The manifest's retain-until date while it is in the future; None when the backup may be deleted."""
    if not manifest.retain_until:
        return None
    return manifest.retain_until if datetime.datetime.fromisoformat(manifest.retain_until) > now else None
