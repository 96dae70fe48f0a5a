# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``s3napback check``: everything a backup needs, checked without making one.

The config parses and is complete, the tools are there, DiffDir is usable, the recipient keys are usable,
the sources exist, and the bucket is reachable and writable (a probe object is written, read back and
removed). Each check is independent, so one run reports every problem, one line each.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import typing as t
from dataclasses import asdict, dataclass

from .catalog import host_prefix
from .config import Config
from .credentials import read_credentials
from .errors import ConfigError, S3napbackError
from .keys import Keyring, usable_recipients
from .sources import MysqlTarget, directory_problem, is_svn_repository, mysql_tool, repositories_in


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> t.Dict[str, t.Any]:
        return asdict(self)


def _tool_check(name: str, argv: t.List[str], must_contain: str = "") -> Check:
    if shutil.which(argv[0]) is None:
        return Check(f"tool {name}", False, f"{argv[0]} is not installed; install the {name} package")
    try:
        output = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)  # noqa: S603
    except (OSError, subprocess.SubprocessError) as exc:
        return Check(f"tool {name}", False, f"{argv[0]} does not run: {exc}")
    first = (output.stdout or output.stderr).strip().splitlines()[:1]
    version = first[0] if first else "unknown version"
    if must_contain and must_contain not in version:
        return Check(f"tool {name}", False, f"{argv[0]} is {version!r}; GNU tar is required")
    return Check(f"tool {name}", True, version)


def check_tools(config: Config) -> t.List[Check]:
    checks = [_tool_check("tar", ["tar", "--version"], must_contain="GNU tar")]
    if config.compression == "zstd":
        checks.append(_tool_check("zstd", ["zstd", "--version"]))
    elif config.compression == "gzip":
        checks.append(_tool_check("gzip", ["gzip", "--version"]))
    if config.encryption == "gpg":
        checks.append(_tool_check("gpg", ["gpg", "--version"]))
    return checks


def check_diff_dir(config: Config) -> Check:
    diff_dir = t.cast(str, config.diff_dir)
    try:
        os.makedirs(diff_dir, mode=0o700, exist_ok=True)
    except OSError as exc:
        return Check("DiffDir", False, f"{diff_dir}: cannot create it: {exc.strerror}")
    if not os.access(diff_dir, os.W_OK | os.X_OK):
        return Check("DiffDir", False, f"{diff_dir}: not writable by this user")
    return Check("DiffDir", True, diff_dir)


def check_writable_file(directive: str, path: str, replaced: bool = False) -> Check:
    """A LogFile or MetricsFile a run cannot write costs the log or the metrics, not the backup: the run warns
    and goes on; check names it. A file ``replaced`` by renaming a new one over it needs its folder writable."""
    where = path if os.path.exists(path) and not replaced else os.path.dirname(path) or "."
    if not os.path.isdir(os.path.dirname(path) or "."):
        return Check(directive, False, f"{path}: its folder does not exist; make it")
    if not os.access(where, os.W_OK):
        return Check(directive, False, f"{path}: not writable by this user")
    return Check(directive, True, path)


def check_smtp_credentials(path: str) -> Check:
    try:
        read_credentials(path, ("user", "password"), "SmtpCredentialsFile")
    except ConfigError as exc:
        return Check("SmtpCredentialsFile", False, str(exc))
    return Check("SmtpCredentialsFile", True, path)


def check_keys(config: Config) -> Check:
    if config.encryption != "gpg":
        return Check("recipient keys", True, "Encryption none: backups are NOT encrypted")
    try:
        fingerprints = usable_recipients(Keyring.from_config(config.gpg_keyring), config.gpg_recipients)
    except S3napbackError as exc:
        return Check("recipient keys", False, str(exc))
    return Check("recipient keys", True, ", ".join(fingerprints))


def check_sources(config: Config) -> t.List[Check]:
    checks = []
    for backup_set in config.sets:
        name = f"set {backup_set.name}"
        if backup_set.kind in ("subversion", "subversiondir"):
            checks.append(_check_subversion(name, backup_set))
        elif backup_set.kind == "postgresql":
            tool = "pg_dumpall" if backup_set.source == "all" else "pg_dump"
            found = shutil.which(tool) is not None
            checks.append(Check(name, found, tool if found else f"{tool} is not installed (package postgresql-client)"))
        elif backup_set.kind == "mysql":
            checks.append(_check_mysql(name, backup_set))
        elif directory_problem(backup_set.source) is not None:
            checks.append(Check(name, False, t.cast(str, directory_problem(backup_set.source))))
        elif not os.access(backup_set.source, os.R_OK | os.X_OK):
            checks.append(Check(name, False, f"Directory {backup_set.source} is not readable by this user"))
        else:
            checks.append(Check(name, True, backup_set.source))
    return checks


def _check_subversion(name: str, backup_set: t.Any) -> Check:
    if shutil.which("svnadmin") is None or shutil.which("svnlook") is None:
        return Check(name, False, "svnadmin and svnlook are not installed; install Subversion (package subversion)")
    if backup_set.kind == "subversion":
        if not is_svn_repository(backup_set.source):
            return Check(name, False, f"Subversion {backup_set.source} is not a Subversion repository")
        return Check(name, True, backup_set.source)
    try:
        repos = repositories_in(backup_set.source)
    except S3napbackError as exc:
        return Check(name, False, str(exc))
    return Check(name, True, f"{backup_set.source}: {len(repos)} repositories")


def _check_mysql(name: str, backup_set: t.Any) -> Check:
    tool = mysql_tool("dump")
    if shutil.which(tool) is None:
        return Check(name, False, "mysqldump is not installed (package mariadb-client or mysql-client)")
    defaults = MysqlTarget.of(backup_set.source, backup_set.options).defaults_file
    if defaults and not os.access(defaults, os.R_OK):
        return Check(name, False, f"DefaultsFile {defaults} does not exist or is not readable by this user")
    return Check(name, True, tool)


def check_bucket(config: Config, store: t.Any) -> Check:
    """Reachable and writable: put a probe object with its checksum, read it back, delete it."""
    key = host_prefix(config.s3_prefix, config.host_name) + f".s3napback-probe-{secrets.token_hex(8)}"
    body = b"s3napback write probe\n"
    try:
        store.check_bucket()
        verified = store.put(key, body, hashlib.sha256(body).digest())
        try:
            if store.get(key) != body:
                return Check("bucket", False, f"{store.where}: the probe object came back different")
        finally:
            store.delete([key], all_versions=config.object_lock is not None)
        if config.object_lock and not store.object_lock_enabled():
            return Check(
                "bucket",
                False,
                f"ObjectLock {config.object_lock.lower()} is set, but bucket {config.bucket} has no Object Lock;"
                " create the bucket with Object Lock enabled (it cannot be added to most existing buckets)",
            )
    except S3napbackError as exc:
        return Check("bucket", False, str(exc))
    note = "checksums verified by the store" if verified == "verified" else "the store ignores SHA-256 checksums"
    return Check("bucket", True, f"{store.where}: reachable and writable; {note}")


def run_checks(config: Config, *, store: t.Any = None, config_only: bool = False) -> t.List[Check]:
    """All checks; with ``config_only`` just the config itself (for validating a rendered config file)."""
    try:
        config.require_for_backup()
    except S3napbackError as exc:
        return [Check("config", False, str(exc))]
    checks = [Check("config", True, f"{config.source}: {len(config.sets)} sets")]
    if config_only:
        return checks
    checks += check_tools(config)
    checks.append(check_diff_dir(config))
    if config.log_file:
        checks.append(check_writable_file("LogFile", config.log_file))
    if config.metrics_file:
        checks.append(check_writable_file("MetricsFile", config.metrics_file, replaced=True))
    if config.smtp_credentials_file:
        checks.append(check_smtp_credentials(config.smtp_credentials_file))
    checks.append(check_keys(config))
    checks += check_sources(config)
    if store is None:
        from .backup import store_settings  # here: backup imports much more than a config check needs
        from .s3 import S3Store

        try:
            store = S3Store(store_settings(config))
        except S3napbackError as exc:
            return [*checks, Check("bucket", False, str(exc))]
    checks.append(check_bucket(config, store))
    return checks
