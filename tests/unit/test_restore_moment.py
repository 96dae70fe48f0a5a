# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which backup `restore --at WHEN` picks, and which WHENs it refuses, the same on every Python."""

from __future__ import annotations

import pytest

from _s3napback.catalog import Manifest
from _s3napback.errors import RestoreError
from _s3napback.restore import resolve_moment
from _s3napback.simulate import fake_manifest


def backup(seq: int, day: str, finished: str) -> Manifest:
    kind = "FULL" if seq == 1 else "DIFF"
    backup_id = f"{day.replace('-', '')}-040000-{kind.lower()}"
    return fake_manifest(backup_id, seq=seq, kind=kind, day=day, finished=finished)


BACKUPS = [
    backup(1, "2026-11-27", "2026-11-27T04:10:00Z"),
    backup(2, "2026-11-28", "2026-11-28T04:10:00Z"),
    backup(3, "2026-11-29", "2026-11-29T04:10:00Z"),
]


@pytest.mark.parametrize(
    ("at", "seq"),
    [
        ("latest", 3),
        ("20261128-040000-diff", 2),
        ("2026-11-28", 2),
        ("2026-11-30", 3),
        ("2026-11-28T04:09:59Z", 1),
        ("2026-11-28T04:10:00Z", 2),
        ("2026-11-28T05:10+01:00", 2),
        ("2026-11-28 04:10:00.000Z", 2),
    ],
)
def test_picks_the_newest_backup_at_that_moment(at: str, seq: int) -> None:
    assert resolve_moment(BACKUPS, at).seq == seq


@pytest.mark.parametrize("at", ["20261128", "2026-W48-6", "2026-11-31", "yesterday", "2026-11-28T4:10", "2026-11-28T"])
def test_refuses_what_is_not_a_day_a_time_or_a_backup_id(at: str) -> None:
    with pytest.raises(RestoreError, match="is not 'latest', a backup id of this set, a date"):
        resolve_moment(BACKUPS, at)


def test_a_moment_before_the_first_backup_names_the_oldest_day() -> None:
    with pytest.raises(RestoreError, match="no backup of this set is as old as 2026-11-26; the oldest is 2026-11-27"):
        resolve_moment(BACKUPS, "2026-11-26")
