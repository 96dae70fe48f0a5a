# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The role's templates render what the engine reads.

``s3napback.conf.j2`` is rendered with jinja2 set up as Ansible's template module sets it up (``trim_blocks``
on, ``lstrip_blocks`` off, Ansible's own ``comment`` and ``bool`` filters, an error on an undefined
variable), from the role's defaults plus overrides, and parsed with the engine's parser.
"""

from __future__ import annotations

import os
import re
import subprocess
import typing as t

import jinja2
import pytest
import yaml
from ansible.plugins.filter.core import FilterModule

from _s3napback.config import BackupSet, Config, parse_config
from _s3napback.credentials import read_credentials

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(ROOT, "roles", "s3napback")
HOST = "web1.example.com"
FINGERPRINT = "0123456789ABCDEF0123456789ABCDEF01234567"

_ansible_filters = FilterModule().filters()
ENV = jinja2.Environment(  # noqa: S701 - a config file, not HTML; Ansible does not autoescape either
    loader=jinja2.FileSystemLoader(os.path.join(ROLE, "templates")),
    trim_blocks=True,
    lstrip_blocks=False,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)
ENV.filters["comment"] = _ansible_filters["comment"]
ENV.filters["bool"] = _ansible_filters["bool"]
ENV.filters["quote"] = _ansible_filters["quote"]

# Directives the role renders only when their variables (or item keys) are set; StorageClass was rendered
# at the top level before, but never in a block.
NEW_DIRECTIVES = (
    "ObjectLock",
    "NotifyEmail",
    "NotifyOn",
    "NotifyFrom",
    "SmtpServer",
    "SmtpSecurity",
    "SmtpCredentialsFile",
    "HeartbeatUrl",
    "MetricsFile",
    "CycleType",
    "Discs",
    "ArchiveOldestDisc",
    "KeepDaily",
    "KeepWeekly",
    "KeepMonthly",
    "KeepYearly",
    "StorageClass",
    "ArchiveStorageClass",
)

# Sets with the keys the role had before retention schemes, Object Lock and reports.
OLD_STYLE_SETS: t.Dict[str, object] = {
    "s3napback_cycles": [{"name": "daily", "diffs": 7, "excludes": ["*.tmp"], "directories": ["/etc", "/home"]}],
    "s3napback_directories": [{"path": "/srv/www", "fulls": 8, "phase": 3}],
    "s3napback_mysql": [{"name": "shop", "defaults_file": "/etc/s3napback/my.cnf", "fulls": 14}],
    "s3napback_postgresql": [{"name": "app"}],
    "s3napback_subversion": [{"path": "/srv/svn/main", "diffs": 7}],
    "s3napback_subversion_dirs": [{"path": "/srv/svn/more", "fulls": 3}],
}

# What the template rendered for OLD_STYLE_SETS and the defaults before the new variables existed.
OLD_STYLE_CONFIG = f"""\
#
# Ansible managed
#
# s3napback configuration, in the format of the original s3napback (see the collection's README).

DiffDir /var/lib/s3napback
Bucket backups.example.com
HostName {HOST}
S3AddressingStyle auto
Encryption gpg
GpgKeyring /etc/s3napback/gnupg
GpgRecipient {FINGERPRINT}
ChunkSize 64M
Parallel 4
Compression zstd 3
LogFile /var/log/s3napback.log
LogLevel 2

# Defaults for every set
Frequency 1
Diffs 7
Fulls 2

<Cycle daily>
    Diffs 7
    Exclude "*.tmp"
    Directory "/etc"
    Directory "/home"
</Cycle>

<Directory "/srv/www">
    Fulls 8
    Phase 3
</Directory>

<MySQL "shop">
    DefaultsFile "/etc/s3napback/my.cnf"
    Fulls 14
</MySQL>

<PostgreSQL "app">
</PostgreSQL>

<Subversion "/srv/svn/main">
    Diffs 7
</Subversion>

<SubversionDir "/srv/svn/more">
    Fulls 3
</SubversionDir>
"""


def role_vars(**overrides: object) -> t.Dict[str, object]:
    """The role's defaults, the facts the template uses, and the overrides (like extra vars)."""
    with open(os.path.join(ROLE, "defaults", "main.yml"), encoding="utf-8") as handle:
        values: t.Dict[str, object] = yaml.safe_load(handle)
    values.update(
        inventory_hostname=HOST,
        ansible_managed="Ansible managed",
        _s3napback_recipients=[FINGERPRINT],  # set by tasks/keys.yml from the imported keys
        s3napback_bucket="backups.example.com",
    )
    for name, value in list(values.items()):  # defaults that are templates themselves, as Ansible resolves them
        if isinstance(value, str) and "{{" in value:
            values[name] = ENV.from_string(value).render(values)
    values.update(overrides)
    return values


def render(template: str = "s3napback.conf.j2", **overrides: object) -> str:
    return ENV.get_template(template).render(role_vars(**overrides))


def parse(**overrides: object) -> Config:
    text = render(**overrides)
    config = parse_config(text, "s3napback.conf")
    config.require_for_backup()
    return config


def by_name(config: Config) -> t.Dict[str, BackupSet]:
    return {s.name: s for s in config.sets}


def directives(text: str) -> t.Set[str]:
    return set(re.findall(r"^\s*([A-Za-z]+)\b", text, re.MULTILINE))


def test_the_defaults_render_the_config_they_rendered_before() -> None:
    text = render(**OLD_STYLE_SETS)
    assert text == OLD_STYLE_CONFIG
    assert not directives(text) & set(NEW_DIRECTIVES)


def test_the_defaults_leave_the_engine_at_its_own_defaults() -> None:
    config = parse(**OLD_STYLE_SETS)
    assert config.object_lock is None
    assert config.notify_email == []
    assert config.notify_on == "always"
    assert config.notify_from is None
    assert config.smtp_server is None
    assert config.smtp_security == "starttls"
    assert config.smtp_credentials_file is None
    assert config.heartbeat_url is None
    assert config.metrics_file is None
    assert config.host_name == HOST
    for backup_set in config.sets:
        assert backup_set.schedule.cycle_type == "SimpleCycle", backup_set.name
        assert backup_set.storage_class is None
        assert backup_set.archive_storage_class is None
    assert by_name(config)["/srv/www"].schedule.fulls == 8


def test_every_global_variable_reaches_the_engine() -> None:
    config = parse(
        s3napback_directories=[{"path": "/etc"}],
        s3napback_object_lock="compliance",
        s3napback_object_lock_margin_days=3,
        s3napback_notify_email=["ops@example.com", "oncall@example.com"],
        s3napback_notify_on="failure",
        s3napback_notify_from="backups@example.com",
        s3napback_smtp_server="smtp.example.com:465",
        s3napback_smtp_security="tls",
        s3napback_smtp_user="backups@example.com",
        s3napback_smtp_password="not in the config",
        s3napback_smtp_credentials_file="/etc/s3napback/smtp",
        s3napback_heartbeat_url="https://hc-ping.com/5b2c9e1d-0000-4000-8000-000000000000",
        s3napback_metrics_file="/var/lib/prometheus/node-exporter/s3napback.prom",
        s3napback_storage_class="STANDARD_IA",
        s3napback_archive_storage_class="GLACIER_IR",
    )
    assert config.object_lock == "COMPLIANCE"
    assert config.object_lock_margin_days == 3
    assert config.notify_email == ["ops@example.com", "oncall@example.com"]
    assert config.notify_on == "failure"
    assert config.notify_from == "backups@example.com"
    assert (config.smtp_server, config.smtp_port, config.smtp_security) == ("smtp.example.com", 465, "tls")
    assert config.smtp_credentials_file == "/etc/s3napback/smtp"
    assert config.heartbeat_url == "https://hc-ping.com/5b2c9e1d-0000-4000-8000-000000000000"
    assert config.metrics_file == "/var/lib/prometheus/node-exporter/s3napback.prom"
    (only,) = config.sets
    assert (only.storage_class, only.archive_storage_class) == ("STANDARD_IA", "GLACIER_IR")


def test_the_smtp_password_stays_out_of_the_config() -> None:
    text = render(
        s3napback_directories=[{"path": "/etc"}],
        s3napback_smtp_server="smtp.example.com",
        s3napback_smtp_user="backups@example.com",
        s3napback_smtp_password="s3cr3t-password",
    )
    assert "s3cr3t-password" not in text
    assert "SmtpCredentialsFile /etc/s3napback/smtp-credentials\n" in text


def test_the_smtp_credentials_file_is_what_the_engine_reads(tmp_path: t.Any) -> None:
    path = tmp_path / "smtp-credentials"
    path.write_text(
        render("smtp-credentials.j2", s3napback_smtp_user="backups@example.com", s3napback_smtp_password="pa=ss w#rd"),
        encoding="utf-8",
    )
    login = read_credentials(str(path), ("user", "password"), "SmtpCredentialsFile")
    assert login == {"user": "backups@example.com", "password": "pa=ss w#rd"}


def test_role_wide_retention_defaults_reach_every_set() -> None:
    config = parse(
        s3napback_directories=[{"path": "/etc"}, {"path": "/srv", "cycle_type": "SimpleCycle", "fulls": 3}],
        s3napback_cycle_type="GFSCycle",
        s3napback_keep_daily=7,
        s3napback_keep_weekly=4,
        s3napback_keep_monthly=12,
        s3napback_keep_yearly=2,
        s3napback_discs=5,
        s3napback_archive_oldest_disc=True,
    )
    sets = by_name(config)
    gfs = sets["/etc"].schedule
    assert gfs.cycle_type == "GFSCycle"
    assert (gfs.keep_daily, gfs.keep_weekly, gfs.keep_monthly, gfs.keep_yearly) == (7, 4, 12, 2)
    assert (gfs.discs, gfs.archive_oldest_disc) == (5, True)
    simple = sets["/srv"].schedule
    assert (simple.cycle_type, simple.fulls, simple.diffs) == ("SimpleCycle", 3, 7)


def test_every_item_key_reaches_the_engine_in_every_list() -> None:
    hanoi = {"cycle_type": "HanoiCycle", "discs": 6, "archive_oldest_disc": True}
    gfs = {"cycle_type": "GFSCycle", "keep_daily": 3, "keep_weekly": 2, "keep_monthly": 1, "keep_yearly": 4}
    classes = {"storage_class": "STANDARD_IA", "archive_storage_class": "DEEP_ARCHIVE"}
    config = parse(
        s3napback_cycles=[{"name": "gfs", "diffs": 7, "directories": ["/etc", "/home"], **gfs, **classes}],
        s3napback_directories=[{"path": "/srv/archive", "frequency": 2, "phase": 1, **hanoi, **classes}],
        s3napback_mysql=[{"name": "shop", **hanoi}],
        s3napback_postgresql=[{"name": "app", **gfs, "storage_class": "ONEZONE_IA"}],
        s3napback_subversion=[{"path": "/srv/svn/main", "diffs": 7, **gfs}],
        s3napback_subversion_dirs=[{"path": "/srv/svn/more", **hanoi, "archive_oldest_disc": False}],
    )
    sets = by_name(config)
    assert set(sets) == {
        "/etc",
        "/home",
        "/srv/archive",
        "mysql/shop",
        "postgresql/app",
        "svn/srv/svn/main",
        "svn/srv/svn/more",
    }
    for name in ("/etc", "/home", "postgresql/app", "svn/srv/svn/main"):
        schedule = sets[name].schedule
        assert schedule.cycle_type == "GFSCycle", name
        assert (schedule.keep_daily, schedule.keep_weekly, schedule.keep_monthly, schedule.keep_yearly) == (3, 2, 1, 4)
    for name in ("/srv/archive", "mysql/shop"):
        schedule = sets[name].schedule
        assert (schedule.cycle_type, schedule.discs, schedule.archive_oldest_disc) == ("HanoiCycle", 6, True), name
    assert (sets["/srv/archive"].schedule.frequency, sets["/srv/archive"].schedule.phase) == (2, 1)
    assert sets["/etc"].schedule.diffs == 7
    for name in ("/etc", "/home", "/srv/archive"):
        assert (sets[name].storage_class, sets[name].archive_storage_class) == ("STANDARD_IA", "DEEP_ARCHIVE")
    assert (sets["postgresql/app"].storage_class, sets["postgresql/app"].archive_storage_class) == ("ONEZONE_IA",) * 2
    assert sets["mysql/shop"].storage_class is None
    more = sets["svn/srv/svn/more"].schedule
    assert (more.cycle_type, more.discs, more.archive_oldest_disc) == ("HanoiCycle", 6, False)


@pytest.mark.parametrize(
    ("value", "written"), [(True, "yes"), (False, "no"), ("yes", "yes"), ("no", "no"), ("true", "yes"), ("False", "no")]
)
def test_archive_oldest_disc_is_written_yes_or_no(value: object, written: str) -> None:
    text = render(
        s3napback_directories=[{"path": "/srv", "cycle_type": "HanoiCycle", "discs": 3, "archive_oldest_disc": value}]
    )
    assert f"    ArchiveOldestDisc {written}\n" in text
    (only,) = parse_config(text, "s3napback.conf").sets
    assert only.schedule.archive_oldest_disc is (written == "yes")


def test_dumps_never_get_diffs() -> None:
    text = render(s3napback_mysql=[{"name": "shop", "diffs": 7, "keep_daily": 2, "cycle_type": "GFSCycle"}])
    block = text[text.index('<MySQL "shop">') :]
    assert block == '<MySQL "shop">\n    CycleType GFSCycle\n    KeepDaily 2\n</MySQL>\n'


def test_a_single_notify_address_given_as_a_string() -> None:
    config = parse(s3napback_directories=[{"path": "/etc"}], s3napback_notify_email="ops@example.com")
    assert config.notify_email == ["ops@example.com"]


def test_object_lock_none_renders_nothing_whatever_the_margin() -> None:
    text = render(s3napback_directories=[{"path": "/etc"}], s3napback_object_lock_margin_days=30)
    assert "ObjectLock" not in text


def test_cron_runs_the_backup_with_syslog_and_systemd_without() -> None:
    with open(os.path.join(ROLE, "tasks", "schedule_cron.yml"), encoding="utf-8") as handle:
        add, remove = yaml.safe_load(handle)
    job = ENV.from_string(add["ansible.builtin.cron"]["job"]).render(role_vars())
    assert job == "/usr/local/bin/s3napback backup -c /etc/s3napback/s3napback.conf --syslog > /dev/null"
    service = render("s3napback.service.j2")
    assert "ExecStart=/usr/local/bin/s3napback backup -c /etc/s3napback/s3napback.conf\n" in service
    assert "\nKillMode=mixed\n" in service  # a stop lets the command clean up (SIGTERM to it alone)
    # another scheduler removes the entry by removing its cron file, which needs no crontab binary
    assert (add["when"], remove["when"]) == ("s3napback_scheduler == 'cron'", "s3napback_scheduler != 'cron'")
    cron_file = "/etc/cron.d/" + add["ansible.builtin.cron"]["cron_file"]
    assert remove["ansible.builtin.file"] == {"path": cron_file, "state": "absent"}


def test_the_log_level_reaches_syslog_also_without_a_log_file() -> None:
    config = parse(s3napback_directories=[{"path": "/etc"}], s3napback_log_file="", s3napback_log_level=0)
    assert config.log_file is None and config.log_level == 0


def test_values_with_spaces_hashes_quotes_and_backslashes_reach_the_engine_unchanged() -> None:
    odd = 'x y#z"q\\w'  # a space, a comment sign, a quote and a backslash
    config = parse(
        s3napback_diff_dir=f"/var/lib/{odd}",
        s3napback_gpg_home=f"/etc/{odd}/gnupg",
        s3napback_s3_prefix=f"pre#{odd}",
        s3napback_log_file=f"/var/log/{odd}.log",
        s3napback_metrics_file=f"/var/lib/{odd}.prom",
        s3napback_excludes=[f"*.{odd}"],
        s3napback_cycles=[{"name": f"c {odd}", "directories": [f"/srv/{odd}"], "excludes": [f"{odd}/*"]}],
        s3napback_directories=[{"path": f"/data/{odd}", "excludes": [odd]}],
        s3napback_mysql=[{"name": "shop", "defaults_file": f"/etc/{odd}.cnf"}],
        s3napback_subversion=[{"path": f"/svn/{odd}"}],
    )
    assert config.diff_dir == f"/var/lib/{odd}"
    assert config.gpg_keyring == f"/etc/{odd}/gnupg"
    assert config.s3_prefix == f"pre#{odd}"
    assert config.log_file == f"/var/log/{odd}.log"
    assert config.metrics_file == f"/var/lib/{odd}.prom"
    sets = by_name(config)
    assert sets[f"/srv/{odd}"].cycle == f"c {odd}"
    assert set(sets[f"/srv/{odd}"].excludes) == {f"*.{odd}", f"{odd}/*"}
    assert set(sets[f"/data/{odd}"].excludes) == {f"*.{odd}", odd}
    assert sets["mysql/shop"].options["defaultsfile"] == f"/etc/{odd}.cnf"
    assert f"svn/svn/{odd}" in sets


def test_cron_systemd_and_logrotate_quote_odd_paths(tmp_path: t.Any) -> None:
    folder = tmp_path / "my tools $HOME `id`"
    folder.mkdir()
    command = folder / "s3napback"  # a stand-in that writes the words it gets, one a line
    command.write_text('#!/bin/sh\nfor w in "$@"; do printf "%s\\n" "$w"; done > "$OUT"\n')
    command.chmod(0o755)
    config_path, log_file = "/etc/s3 n$b/100%.conf", "/var/log/my log.log"
    values = {"s3napback_command": str(command), "s3napback_config_path": config_path, "s3napback_log_file": log_file}
    with open(os.path.join(ROLE, "tasks", "schedule_cron.yml"), encoding="utf-8") as handle:
        add, _remove = yaml.safe_load(handle)
    job = ENV.from_string(add["ansible.builtin.cron"]["job"]).render(role_vars(**values))
    assert "%" not in job.replace("\\%", "")  # cron would end the command at a bare %
    out = tmp_path / "words"
    subprocess.run(["sh", "-c", job.replace("\\%", "%")], env={"OUT": str(out), "PATH": "/usr/bin:/bin"}, check=True)  # noqa: S603,S607 - as cron runs it, once cron has undone its \%
    assert out.read_text().splitlines() == ["backup", "-c", config_path, "--syslog"]
    values["s3napback_command"] = "/opt/my tools/s3napback"
    service = render("s3napback.service.j2", **values)
    assert 'ExecStart="/opt/my tools/s3napback" backup -c "/etc/s3 n$$b/100%%.conf"\n' in service
    assert '\n"/var/log/my log.log" {\n' in render("logrotate.j2", **values)
