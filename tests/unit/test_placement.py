# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How long ObjectLock holds a backup: until its policy may first retire it, plus the margin."""

from __future__ import annotations

import datetime

import pytest

from _s3napback.config import parse_config
from _s3napback.errors import S3napbackError
from _s3napback.placement import placement_for
from _s3napback.schedule import epoch_day


def config(fulls: int):
    lines = ["Bucket b", "DiffDir /d", "ObjectLock governance 2", "Frequency 1", "Diffs 7", f"Fulls {fulls}"]
    return parse_config("\n".join([*lines, "Directory /srv", ""]))


def test_a_backup_is_locked_until_its_slot_comes_round_plus_the_margin():
    conf = config(2)
    period = epoch_day(datetime.date(2026, 3, 2))
    placement = placement_for(conf, conf.sets[0], period, period % 14)
    assert placement.lock_mode == "GOVERNANCE"
    assert placement.retain_until is not None
    assert placement.retain_until.date() - datetime.date(2026, 3, 2) >= datetime.timedelta(days=14 + 2)


def test_a_lock_past_the_year_9999_is_one_line_naming_the_fix():
    conf = config(999999)
    with pytest.raises(S3napbackError, match="ObjectLock would hold this backup past the year 9999; lower Fulls"):
        placement_for(conf, conf.sets[0], epoch_day(datetime.date(2026, 3, 2)), 0)
