# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The planner: the schedule replayed day by day with the code the backups use, as a table and as JSON."""

from __future__ import annotations

import datetime
import json
import textwrap

from _s3napback.config import parse_config
from _s3napback.planner import plan_lines, plan_set
from support.cli import run_cli

SEED_CYCLE = """\
Frequency 1
<Cycle daily>
  Diffs 7
  Fulls 2
  Directory /etc
</Cycle>
<Directory /srv>
  CycleType HanoiCycle
  Discs 5
</Directory>
"""


def sets():
    return {s.name: s for s in parse_config(SEED_CYCLE, "t.conf").sets}


def ages(entry) -> list[int]:
    today = datetime.date.fromisoformat(entry.day)
    return sorted((today - datetime.date.fromisoformat(d)).days for d in entry.restorable)


def test_seed_cycle_keeps_every_day_of_two_weeks_and_the_chain_it_needs() -> None:
    plan = plan_set(sets()["/etc"], datetime.date(2026, 11, 30), 60)
    assert plan.policy == "SimpleCycle: Frequency 1, Diffs 7, Fulls 2 (14 slots)"
    assert [d.action for d in plan.days[:4]] == ["FULL", "DIFF", "DIFF", "FULL"]  # cycles follow the epoch
    for entry in plan.days[20:]:
        assert ages(entry) == list(range(len(entry.restorable)))  # every day restorable, no gaps
        assert 14 <= len(entry.restorable) <= 20 and entry.fulls in (2, 3)
    assert plan.most_stored == (3, 17)


def test_hanoi_with_five_discs_over_400_days_keeps_five_fulls_of_doubling_ages() -> None:
    plan = plan_set(sets()["/srv"], datetime.date(2026, 1, 1), 400)
    assert {d.action for d in plan.days} == {"FULL"}
    for entry in plan.days[16:]:
        assert entry.fulls == 5 and entry.diffs == 0 and len(entry.retired) == 1
        assert ages(entry)[:2] == [0, 1] and max(ages(entry)) <= 15
    assert {tuple(ages(d)) for d in plan.days[16:]} >= {(0, 1, 2, 4, 8), (0, 1, 3, 7, 15)}
    lines = list(plan_lines(plan))
    assert lines[0] == "/srv: HanoiCycle: Frequency 1, Discs 5 (fulls only)"
    assert lines[2].split() == ["2026-01-01", "FULL", "0", "1F", "-", "0"]
    assert lines[-1].startswith("  after 400 days: 5 restorable moments") and lines[-1].endswith("5F stored at once")


def test_plan_command_prints_json_for_one_set_and_needs_no_bucket(tmp_path) -> None:
    conf = tmp_path / "s3napback.conf"
    conf.write_text(textwrap.dedent(SEED_CYCLE))
    done = run_cli("plan", "-c", conf, "--set", "/srv", "--days", "20", "--from", "2026-01-01", "--json", check=True)
    [plan] = json.loads(done.stdout)
    assert plan["set"] == "/srv" and len(plan["days"]) == 20
    assert plan["days"][0] == {"day": "2026-01-01", "action": "FULL", "slot": 0, "retired": [],
                               "restorable": ["2026-01-01"], "fulls": 1, "diffs": 0}  # fmt: skip
    bad = run_cli("plan", "-c", conf, "--days", "0")
    assert (
        bad.returncode == 2
        and bad.stderr.strip() == "s3napback: error: --days 0: give a number of days from 1 to 36600"
    )
    late = run_cli("plan", "-c", conf, "--from", "9999-12-01", "--days", "100")
    assert late.returncode == 2 and late.stderr.strip() == (
        "s3napback: error: --from 9999-12-01 --days 100: the replay would run past the year 9999"
    )
