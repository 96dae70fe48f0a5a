# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SimpleCycle, HanoiCycle and GFSCycle and their retention, replayed over years with the code the backups use."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _s3napback.catalog import Manifest, chain_of
from _s3napback.config import Schedule
from _s3napback.retention import first_retirement, retained, retention_bound
from _s3napback.schedule import (
    DIFF,
    EPOCH,
    FULL,
    SKIP,
    chain_complete,
    decide,
    epoch_day,
    hanoi_disc,
    parse_day,
    period_of,
    slot_of,
)
from _s3napback.simulate import Simulation, fake_manifest

simple_schedules = st.builds(
    Schedule,
    frequency=st.integers(1, 10),
    diffs=st.integers(0, 10),
    fulls=st.integers(1, 5),
    phase=st.integers(0, 12),
)
hanoi_schedules = st.builds(
    Schedule,
    frequency=st.integers(1, 4),
    diffs=st.just(1),
    fulls=st.just(1),
    phase=st.integers(0, 12),
    cycle_type=st.just("HanoiCycle"),
    discs=st.integers(1, 9),
    archive_oldest_disc=st.booleans(),
)
gfs_schedules = st.builds(
    Schedule,
    frequency=st.integers(1, 3),
    diffs=st.integers(0, 8),
    fulls=st.just(1),
    phase=st.integers(0, 12),
    cycle_type=st.just("GFSCycle"),
    keep_daily=st.integers(0, 10),
    keep_weekly=st.integers(0, 6),
    keep_monthly=st.integers(0, 14),
    keep_yearly=st.integers(0, 3),
).filter(lambda s: s.gfs_points > 0)
schedules = st.one_of(simple_schedules, hanoi_schedules, gfs_schedules)
# any day from 1990 to 2060, so year ends, leap days and the 2038 boundary are all crossed somewhere
start_days = st.integers(epoch_day(datetime.date(1990, 1, 1)), epoch_day(datetime.date(2060, 1, 1)))


def daily(schedule: Schedule, start: int, days: int) -> Simulation:
    sim = Simulation(schedule)
    for day in range(start, start + days):
        sim.run_day(day)
    return sim


def assert_invariants(sim: Simulation) -> None:
    by_id = {m.backup_id: m for m in sim.committed}
    for manifest in sim.committed:  # no retained DIFF without its whole chain
        assert chain_complete(manifest, by_id), manifest
    made = [e.made for e in sim.events if e.made is not None]
    if made:  # the newest backup is never retired
        assert made[-1].backup_id in by_id


def test_seed_table_daily_diffs_weekly_fulls_two_weeks() -> None:
    schedule = Schedule(frequency=1, diffs=7, fulls=2)
    start = 7 * 3000  # a day where a cycle starts (period 21000 is a multiple of 7)
    sim = daily(schedule, start, 28)
    kinds = "".join(e.decision.action[0] for e in sim.events)
    assert kinds == "FDDDDDD" * 4
    assert [e.decision.slot for e in sim.events] == list(range(14)) * 2
    # after four weeks: the two newest cycles, 14 backups, each restorable
    assert len(sim.committed) == 14
    assert [m.kind for m in sorted(sim.committed, key=lambda m: m.seq)] == [FULL] + [DIFF] * 6 + [FULL] + [DIFF] * 6


def test_weekly_frequency_skips_the_other_days() -> None:
    schedule = Schedule(frequency=7, diffs=4, fulls=2)
    start = 7 * 4 * 800
    sim = daily(schedule, start, 7 * 8)
    made = [e for e in sim.events if e.made is not None]
    assert [e.day - start for e in made] == [0, 7, 14, 21, 28, 35, 42, 49]
    assert "".join(e.made.kind[0] for e in made) == "FDDDFDDD"
    assert all(e.decision.action == SKIP for e in sim.events if e.made is None)


def test_phase_shifts_the_cycle() -> None:
    plain = Schedule(frequency=1, diffs=7, fulls=2)
    shifted = Schedule(frequency=1, diffs=7, fulls=2, phase=3)
    day = 7 * 3000
    assert period_of(plain, day) % 7 == 0
    assert period_of(shifted, day + 3) == period_of(plain, day)
    assert slot_of(shifted, period_of(shifted, day + 3)) == slot_of(plain, period_of(plain, day))


def test_year_boundary_changes_nothing() -> None:
    """The original used the day of the year: on 1 January every cycle restarted. Ours continues."""
    schedule = Schedule(frequency=1, diffs=7, fulls=2)
    dec31 = epoch_day(datetime.date(2026, 12, 31))
    sim = Simulation(schedule)
    for day in range(dec31 - 3, dec31 + 4):
        sim.run_day(day)
    kinds = [e.decision.action for e in sim.events]
    periods = [e.decision.period for e in sim.events]
    assert periods == list(range(dec31 - 3, dec31 + 4))
    assert [e.decision.slot for e in sim.events] == [p % 14 for p in periods]
    jan1 = sim.events[4]
    assert jan1.day == epoch_day(datetime.date(2027, 1, 1))
    assert jan1.decision.action == (FULL if jan1.day % 7 == 0 else DIFF)
    assert kinds.count(FULL) <= 2


def test_second_run_same_day_skips_unless_forced() -> None:
    schedule = Schedule(frequency=1, diffs=7, fulls=2)
    sim = Simulation(schedule)
    assert sim.run_day(100).made is not None
    assert sim.run_day(100).decision.action == SKIP
    forced = sim.run_day(100, force=True)
    assert forced.decision.action == DIFF and forced.made is not None
    assert_invariants(sim)


def test_lost_snapshot_gives_full() -> None:
    schedule = Schedule(frequency=1, diffs=7, fulls=2)
    sim = Simulation(schedule)
    sim.run_day(7 * 100)
    assert sim.run_day(7 * 100 + 1).decision.action == DIFF
    event = sim.run_day(7 * 100 + 2, lose_snapshot=True)
    assert event.decision.action == FULL and "snapshot" in event.decision.reason


def test_stale_snapshot_or_missing_base_gives_full() -> None:
    schedule = Schedule(frequency=1, diffs=7, fulls=2)
    full = fake_manifest("f", seq=1, kind=FULL, period=700, slot=0, full="f", snapshot="s1", day=day_of(700))
    diff = fake_manifest(
        "d", seq=2, kind=DIFF, period=701, slot=1, parent="f", full="f", snapshot="s2", day=day_of(701)
    )
    assert decide(schedule, 702, [full, diff], snapshot_sha256="s2").action == DIFF
    assert decide(schedule, 702, [full, diff], snapshot_sha256="s1").action == FULL  # snapshot of an older run
    missing_base = decide(schedule, 702, [diff], snapshot_sha256="s2")
    assert missing_base.action == FULL and "incomplete" in missing_base.reason


def test_missed_full_day_gives_full_in_new_cycle() -> None:
    schedule = Schedule(frequency=1, diffs=7, fulls=2)
    sim = Simulation(schedule)
    for day in range(700, 705):
        sim.run_day(day)
    event = sim.run_day(709)  # host was off on 707, the full's day
    assert event.decision.action == FULL and "missed" in event.decision.reason


def test_retention_keeps_base_of_retained_diffs() -> None:
    """The seed's orphaned diffs: when the new FULL replaces the old one, the old chain stays restorable."""
    schedule = Schedule(frequency=1, diffs=7, fulls=1)
    sim = daily(schedule, 700, 8)  # a whole cycle, then the next FULL in slot 0
    ids = {m.backup_id for m in sim.committed}
    assert "b00001" in ids  # the old FULL still serves the old DIFFs in slots 1..6
    assert len(sim.committed) == 8
    for day in range(708, 714):
        sim.run_day(day)  # up to the new cycle's last slot: then the old chain has no occupant left
    assert [m.kind for m in sorted(sim.committed, key=lambda m: m.seq)] == [FULL] + [DIFF] * 6
    assert min(m.seq for m in sim.committed) == 8
    for m in sim.committed:
        assert chain_of(m, sim.committed)[0].kind == FULL


def day_of(day: int) -> str:
    return (EPOCH + datetime.timedelta(days=day)).isoformat()


def test_a_shrunk_schedule_keeps_the_newest_backups() -> None:
    """Slots are counted as the schedule is now: the stored ones (here 1..5 of 5) would keep b1 and b2."""
    old = [fake_manifest(f"b{i}", seq=i, kind=FULL, period=i, slot=i, full=f"b{i}", day=day_of(i)) for i in range(1, 6)]
    assert retained(old, Schedule(frequency=1, diffs=1, fulls=3)) == {"b3", "b4", "b5"}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (Schedule(frequency=1, diffs=7, fulls=4), Schedule(frequency=1, diffs=7, fulls=2)),
        (Schedule(frequency=1, diffs=7, fulls=2), Schedule(frequency=1, diffs=5, fulls=2)),
        (Schedule(frequency=1, diffs=1, fulls=30), Schedule(frequency=7, diffs=1, fulls=4)),
    ],
)
def test_after_a_config_change_retention_keeps_the_newest_periods(before: Schedule, after: Schedule) -> None:
    start = epoch_day(datetime.date(2026, 1, 1))
    sim = daily(before, start, 72)
    made = [e.made for e in sim.events if e.made is not None]
    sim.schedule = after
    for day in range(start + 72, start + 72 + after.frequency):
        made += [m for m in [sim.run_day(day).made] if m is not None]
    assert_invariants(sim)

    def period(m: Manifest) -> int:
        return period_of(after, epoch_day(datetime.date.fromisoformat(m.day)))

    newest_periods = sorted({period(m) for m in made}, reverse=True)[: after.slots]
    kept = {m.backup_id: m for m in sim.committed}
    for p in newest_periods:  # the newest backup of each of the newest periods
        assert max((m for m in made if period(m) == p), key=lambda m: m.seq).backup_id in kept, p
    for m in kept.values():  # and older ones only as the base of those
        assert period(m) in newest_periods or any(
            m.backup_id in {a.backup_id for a in chain_of(k, sim.committed)[:-1]} for k in kept.values()
        ), m.day


@pytest.mark.parametrize("phase", [0, 3])
def test_a_higher_frequency_or_another_phase_goes_on_backing_up(phase: int) -> None:
    start = epoch_day(datetime.date(2026, 3, 1))
    sim = daily(Schedule(frequency=1, diffs=7, fulls=2), start, 5)
    sim.schedule = Schedule(frequency=7, diffs=4, fulls=2, phase=phase)
    made = [sim.run_day(day).made for day in range(start + 5, start + 40)]
    days = [m.day for m in made if m is not None]
    assert len(days) == 5  # one per week of the 35 days
    assert all(e.decision.error is None for e in sim.events)


def test_a_backup_from_a_later_day_fails_the_set_until_forced() -> None:
    sim = Simulation(Schedule(frequency=1, diffs=7, fulls=2))
    sim.run_day(20500)  # a wrong clock, or --date in the future
    event = sim.run_day(20400)
    assert event.decision.action == SKIP and event.made is None
    assert event.decision.error == (
        f"the newest backup b00001 is from {day_of(20500)}, after today ({day_of(20400)}): if the clock is right, "
        "back up once with force (-f) to go on; until then no backup is made"
    )
    forced = sim.run_day(20400, force=True)
    assert forced.made is not None
    assert sim.run_day(20401).made is not None  # and the days after go on as usual


@settings(max_examples=150, deadline=None)
@given(schedule=schedules, start=start_days, years=st.integers(1, 3))
def test_daily_runs_keep_chains_and_bounds(schedule: Schedule, start: int, years: int) -> None:
    sim = daily(schedule, start, 365 * years)
    assert_invariants(sim)
    made_so_far: list = []
    for event in sim.events:
        made_so_far += [event.made] if event.made is not None else []
        assert len(event.retained) <= retention_bound(schedule, made_so_far)
        periods = [m.period for m in event.retained]
        assert len(periods) == len(set(periods))  # never two backups for one period without -f
    made = [e.made for e in sim.events if e.made is not None]
    assert len(made) == len({period_of(schedule, d) for d in range(start, start + 365 * years)})


@settings(max_examples=150, deadline=None)
@given(
    schedule=schedules,
    start=start_days,
    steps=st.lists(
        st.tuples(st.integers(-30, 40), st.booleans(), st.booleans()),  # day jump, force, lose snapshot
        min_size=1,
        max_size=150,
    ),
)
def test_missed_days_clock_jumps_and_forced_runs_never_strand_a_backup(
    schedule: Schedule, start: int, steps: list
) -> None:
    sim = Simulation(schedule)
    day = start
    for jump, force, lose in steps:
        day += jump
        before = {m.backup_id for m in sim.committed}
        event = sim.run_day(day, force=force, lose_snapshot=lose)
        retired = {m.backup_id for m in event.retired}
        assert retired <= before  # only what existed before this run, never the new one
        assert_invariants(sim)
        if event.made is not None:
            assert event.made.backup_id in {m.backup_id for m in sim.committed}


# -- HanoiCycle ----------------------------------------------------------------------------------------


def test_hanoi_disc_sequence_matches_the_documented_table() -> None:
    assert [hanoi_disc(p, 5) for p in range(31, 47)] == [4, 0, 1, 0, 2, 0, 1, 0, 3, 0, 1, 0, 2, 0, 1, 0]
    assert [hanoi_disc(p, 3) for p in range(7, 15)] == [2, 0, 1, 0, 2, 0, 1, 0]  # the last disc takes the rest
    assert {hanoi_disc(p, 1) for p in range(100)} == {0}


def test_hanoi_keeps_backups_of_ages_one_two_four_eight() -> None:
    schedule = Schedule(frequency=1, diffs=7, fulls=9, cycle_type="HanoiCycle", discs=5)
    sim = daily(schedule, 32 * 500 - 1 - 40, 41)  # ends on a day of the last disc (period + 1 = 32k)
    assert all(e.decision.action == FULL for e in sim.events)  # fulls only, whatever Diffs says
    last = sim.events[-1].day
    assert sorted(last - epoch_day(datetime.date.fromisoformat(m.day)) for m in sim.committed) == [0, 1, 2, 4, 8]
    sim.run_day(last + 1)
    assert sorted(last + 1 - epoch_day(datetime.date.fromisoformat(m.day)) for m in sim.committed) == [0, 1, 3, 5, 9]


@settings(max_examples=60, deadline=None)
@given(discs=st.integers(1, 8), start=start_days)
def test_hanoi_never_keeps_a_backup_older_than_its_last_disc(discs: int, start: int) -> None:
    schedule = Schedule(frequency=1, diffs=1, fulls=1, cycle_type="HanoiCycle", discs=discs)
    sim = daily(schedule, start, 2**discs + 10)
    for event in sim.events[2**discs :]:
        ages = [event.day - epoch_day(datetime.date.fromisoformat(m.day)) for m in event.retained]
        assert max(ages) < max(2 ** (discs - 1), 1) and len(ages) == discs


def test_hanoi_archive_keeps_every_backup_of_the_last_disc() -> None:
    schedule = Schedule(frequency=1, diffs=1, fulls=1, cycle_type="HanoiCycle", discs=5, archive_oldest_disc=True)
    sim = daily(schedule, 20000, 400)
    on_last_disc = [e.made for e in sim.events if e.made is not None and e.made.slot == 4]
    assert len(on_last_disc) == 25  # one every 16 days
    kept = {m.backup_id for m in sim.committed}
    assert {m.backup_id for m in on_last_disc} <= kept
    assert len(kept) == 4 + 25  # the four other discs, and the archive


@pytest.mark.parametrize("discs", [2, 4, 6])
def test_hanoi_archive_stays_when_discs_change(discs: int) -> None:
    schedule = Schedule(frequency=1, diffs=1, fulls=1, cycle_type="HanoiCycle", discs=3, archive_oldest_disc=True)
    sim = daily(schedule, 20000, 40)
    archive = {m.backup_id for m in sim.committed if m.slot == 2} - {sim.committed[-1].backup_id}
    assert len(archive) >= 4
    sim.schedule = Schedule(frequency=1, diffs=1, fulls=1, cycle_type="HanoiCycle", discs=discs,
                            archive_oldest_disc=True)  # fmt: skip
    for day in range(20040, 20060):
        sim.run_day(day)
    assert archive <= {m.backup_id for m in sim.committed}
    # turning the archive off is the user's choice to let it go
    sim.schedule = Schedule(frequency=1, diffs=1, fulls=1, cycle_type="HanoiCycle", discs=discs)
    sim.run_day(20060)
    assert len(sim.committed) <= discs  # one backup per disc: what was archived now goes as the discs turn


# -- GFSCycle ------------------------------------------------------------------------------------------


def test_gfs_keeps_the_newest_of_each_day_week_and_month() -> None:
    schedule = Schedule(frequency=1, diffs=1, fulls=1, cycle_type="GFSCycle", keep_daily=7, keep_weekly=4,
                        keep_monthly=12)  # fmt: skip
    sim = daily(
        schedule, epoch_day(datetime.date(2025, 1, 1)), (datetime.date(2026, 2, 4) - datetime.date(2025, 1, 1)).days + 1
    )
    kept = sorted(m.day for m in sim.committed)
    daily_points = [f"2026-01-{d}" for d in (29, 30, 31)] + [f"2026-02-0{d}" for d in (1, 2, 3, 4)]
    weekly_points = ["2026-01-18", "2026-01-25"]  # Sundays ending ISO weeks 3 and 4; weeks 5 and 6 are daily
    monthly_points = ["2025-03-31", "2025-04-30", "2025-05-31", "2025-06-30", "2025-07-31", "2025-08-31",
                      "2025-09-30", "2025-10-31", "2025-11-30", "2025-12-31"]  # fmt: skip
    assert kept == sorted(daily_points + weekly_points + monthly_points)


def test_gfs_with_diffs_keeps_each_point_with_its_chain() -> None:
    schedule = Schedule(frequency=1, diffs=7, fulls=1, cycle_type="GFSCycle", keep_daily=3, keep_monthly=3)
    sim = daily(schedule, 7 * 3000, 120)
    assert_invariants(sim)
    kinds = {m.kind for m in sim.committed}
    assert kinds == {FULL, DIFF}
    last = sim.events[-1].day
    old = [m for m in sim.committed if last - epoch_day(datetime.date.fromisoformat(m.day)) >= 9]
    assert len(old) == 2 and {m.kind for m in old} == {FULL}  # the monthly points are fulls: no chains to keep
    assert len(sim.committed) <= retention_bound(schedule, [e.made for e in sim.events if e.made])


@settings(max_examples=150, deadline=None)
@given(schedule=schedules, start=start_days, days=st.integers(1, 500), off=st.sets(st.integers(0, 499)))
def test_no_backup_is_retired_before_its_first_retirement_which_object_lock_uses(
    schedule: Schedule, start: int, days: int, off: set
) -> None:
    sim = Simulation(schedule)
    for day in range(start, start + days):
        if day - start in off:
            continue  # the host was off
        event = sim.run_day(day)
        for gone in event.retired:
            assert period_of(schedule, day) >= first_retirement(schedule, gone.period), (gone, day)


def test_a_day_is_yyyy_mm_dd_and_nothing_else_on_every_python() -> None:
    assert parse_day("2026-12-01") == datetime.date(2026, 12, 1)
    for text in ("20261201", "2026-W49-2", "2026-12-1", "2026-12-01T00:00", " 2026-12-01", "2026-02-30"):
        with pytest.raises(ValueError):
            parse_day(text)
