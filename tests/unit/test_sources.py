# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The dumpers' command lines: what they dump, and that credentials never appear on them."""

from __future__ import annotations

import os

from _s3napback.sources import mysql_dump_plan, postgres_dump_plan


def test_mysql_one_database_takes_the_option_file_first_and_no_password() -> None:
    plan = mysql_dump_plan("shop", {"defaultsfile": "/etc/s3napback/my.cnf"})
    argv = plan.stage.argv
    assert argv[1] == "--defaults-file=/etc/s3napback/my.cnf"  # the clients accept it only first
    assert argv[-1] == "shop" and "--all-databases" not in argv
    assert {"--single-transaction", "--routines", "--events", "--triggers"} <= set(argv)
    assert not any(a.startswith(("-p", "--password", "-u", "--user")) for a in argv)
    assert plan.state == {"database": "shop", "format": "sql", "socket": None, "defaults_file": "/etc/s3napback/my.cnf"}


def test_mysql_socket_form_and_all_databases() -> None:
    plan = mysql_dump_plan("/run/mysqld/mysqld.sock:all", {})
    argv = plan.stage.argv
    assert argv[1] == "--socket=/run/mysqld/mysqld.sock"
    assert argv[-2:] == ["--all-databases", "--flush-privileges"]  # restored users can log in at once
    assert plan.state["database"] == "all" and plan.state["socket"] == "/run/mysqld/mysqld.sock"


def test_a_dump_as_another_user_finds_runuser_with_crons_path(monkeypatch) -> None:
    """cron runs jobs with PATH=/usr/bin:/bin; runuser is in /usr/sbin (Debian, Ubuntu, Fedora)."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    argv = postgres_dump_plan("app", {}).stage.argv
    assert argv[0] in ("/usr/sbin/runuser", "/sbin/runuser") and os.access(argv[0], os.X_OK)
    assert argv[1:4] == ["-u", "postgres", "--"]


def test_a_postgresql_database_is_named_as_a_name_never_as_a_connection_string() -> None:
    argv = postgres_dump_plan("it's a=b\\c", {"user": "root"}).stage.argv
    assert argv[-1] == "--dbname=dbname='it\\'s a=b\\\\c'"


def test_a_defaults_file_others_can_read_is_named(tmp_path, caplog) -> None:
    defaults = tmp_path / "my.cnf"
    defaults.write_text("[client]\nuser=backup\npassword=secret\n")
    defaults.chmod(0o644)
    with caplog.at_level("WARNING"):
        mysql_dump_plan("shop", {"defaultsfile": str(defaults)})
    assert [r.getMessage() for r in caplog.records] == [
        f"DefaultsFile {defaults} is mode 0644, open to other users; "
        f"keep the secret in it private: chmod 600 {defaults}"
    ]
