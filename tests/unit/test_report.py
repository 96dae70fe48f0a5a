# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The metrics text (parsed by prometheus_client's parser) and a heartbeat to a monitor that never answers."""

from __future__ import annotations

import logging
import socket
import time

from prometheus_client.parser import text_string_to_metric_families

from _s3napback import heartbeat, metrics
from _s3napback.backup import SetResult


def samples(text: str) -> dict:
    return {
        (s.name, s.labels.get("set")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_escape_labels_and_carry_over_sets_this_run_did_not_reach() -> None:
    odd = 'C:\\odd "name"\nx'
    first = metrics.render(
        "h1",
        [
            SetResult(
                set="/etc",
                action="FULL",
                bytes_read=10,
                chunks=1,
                newest_finished="2026-01-01T00:00:00Z",
                after={"restorable": ["2026-01-01"], "fulls": 1, "diffs": 0},
            ),  # fmt: skip
            SetResult(set=odd, action="FAILED", error="boom"),
        ],
        ok=False,
        ended=1767225600.5,
    )
    parsed = samples(first)
    assert (
        parsed[("s3napback_run_success", None)] == 0
        and parsed[("s3napback_run_timestamp_seconds", None)] == 1767225600.5
    )
    assert parsed[("s3napback_set_last_backup_timestamp_seconds", "/etc")] == 1767225600.0
    assert parsed[("s3napback_set_last_run_success", odd)] == 0  # the label survived escaping
    second = metrics.render("h1", [SetResult(set=odd, action="SKIP")], ok=True, ended=1767312000, previous=first)
    parsed = samples(second)
    assert parsed[("s3napback_set_last_run_success", odd)] == 1 and parsed[("s3napback_run_success", None)] == 1
    assert parsed[("s3napback_set_restorable_backups", "/etc")] == 1  # carried over, untouched
    assert parsed[("s3napback_set_last_backup_timestamp_seconds", "/etc")] == 1767225600.0
    # /etc taken out of the config: its series go (a SubversionDir's repositories stay with their folder)
    third = metrics.render("h1", [], ok=True, ended=1767398400, previous=second, configured=[odd, "/var"])
    assert not [key for key in samples(third) if key[1] == "/etc"]
    assert samples(third)[("s3napback_set_last_run_success", odd)] == 1
    repo = metrics.render("h1", [SetResult(set="svn/srv/svn/a", action="SKIP")], ok=True, ended=1, previous="")
    assert ("s3napback_set_last_run_success", "svn/srv/svn/a") in samples(
        metrics.render("h1", [], ok=True, ended=2, previous=repo, configured=["svn/srv/svn"], folders=["svn/srv/svn"])
    )
    nested = metrics.render("h1", [SetResult(set="/var/www", action="SKIP")], ok=True, ended=1, previous="")
    after = samples(metrics.render("h1", [], ok=True, ended=2, previous=nested, configured=["/var"]))
    assert not [key for key in after if key[1] == "/var/www"]  # /var is configured; /var/www is not


def test_only_a_failed_set_keeps_what_it_could_not_learn() -> None:
    first = metrics.render(
        "h1", [SetResult(set="/a", action="FULL", newest_finished="2026-01-01T00:00:00Z")], ok=True, ended=1
    )
    age = ("s3napback_set_last_backup_timestamp_seconds", "/a")
    failed = metrics.render("h1", [SetResult(set="/a", action="FAILED", error="x")], ok=False, ended=2, previous=first)
    assert samples(failed)[age] == 1767225600.0
    vanished = metrics.render("h1", [SetResult(set="/a", action="SKIP")], ok=True, ended=3, previous=first)
    assert age not in samples(vanished)  # a repository gone from its SubversionDir: reported, not alerted on


def test_a_monitor_that_never_answers_costs_only_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection, never answers
        started = time.monotonic()
        assert heartbeat.ping(f"http://127.0.0.1:{silent.getsockname()[1]}/x", "start", timeout=0.5) is False
        assert time.monotonic() - started < 5


def test_syslog_gets_the_runs_lines_at_the_log_level(tmp_path, monkeypatch) -> None:
    from _s3napback import cli
    from _s3napback.config import parse_config

    address = str(tmp_path / "log")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as syslog:
        syslog.bind(address)
        syslog.settimeout(5)
        monkeypatch.setattr(cli, "SYSLOG_ADDRESS", address)
        config = parse_config("LogLevel warning\n", "t.conf")
        try:
            cli.setup_logging(False, config, syslog=True)
            logging.getLogger("s3napback.test").info("not at warning level")
            logging.getLogger("s3napback.test").warning("/etc: could not retire x")
            received = syslog.recv(4096).decode()
        finally:
            cli.setup_logging(False)  # leave the root logger as it was
    assert received.startswith("<12>s3napback[") and received.endswith("WARNING /etc: could not retire x\x00")


def test_syslog_without_a_syslog_daemon_says_so(tmp_path, monkeypatch, capsys) -> None:
    from _s3napback import cli

    monkeypatch.setattr(cli, "SYSLOG_ADDRESS", str(tmp_path / "no-log"))
    try:
        cli.setup_logging(False, None, syslog=True)
    finally:
        cli.setup_logging(False)
    assert capsys.readouterr().err == (
        f"s3napback: WARNING: --syslog: {tmp_path / 'no-log'} is missing (no syslog daemon?); nothing goes to syslog\n"
    )
