# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a restored dump goes: a file named after its backup, or, on request (``--load``), a new Subversion
repository or a new database. Loading never touches what exists: the repository or database is created
first (which fails if it exists), and removed again when the load fails."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import typing as t

from .catalog import Manifest
from .errors import RestoreError
from .pipeline import Stage
from .sources import (
    MYSQL_SUFFIX,
    PG_SUFFIX,
    SVN_SUFFIX,
    MysqlTarget,
    as_user,
    conninfo_dbname,
    mysql_tool,
    postgres_user,
)

log = logging.getLogger(__name__)

# Streams one backup's whole dump into a stage's standard input.
Stream = t.Callable[[Manifest, Stage], None]


def dump_file_name(manifest: Manifest) -> str:
    everything = manifest.source_state.get("database") == "all"
    suffix = {
        "postgresql": PG_SUFFIX["all" if everything else "one"],
        "mysql": MYSQL_SUFFIX,
    }.get(manifest.source_kind, SVN_SUFFIX)
    return f"{manifest.seq:06d}-{manifest.backup_id}{suffix}"


def check_load(target: Manifest, destination: str) -> str:
    """Refuse, before anything is downloaded, a load that cannot work; the destination as the loader takes it."""
    kind, name = target.source_kind, target.set
    if kind == "subversion":
        destination = os.path.abspath(destination)
        if os.path.lexists(destination) and (not os.path.isdir(destination) or os.listdir(destination)):
            raise RestoreError(f"{destination} exists; --load makes a new repository there: give a new or empty folder")
        return destination
    if kind not in ("postgresql", "mysql"):
        raise RestoreError(f"--load is for dumps (Subversion, PostgreSQL, MySQL); {name} is a {kind} set")
    if target.source_state.get("database") == "all":
        shell = "psql" if kind == "postgresql" else mysql_tool("")
        raise RestoreError(f"{name} is a dump of every database: restore it to a file and run it with {shell}")
    if not destination or "/" in destination or destination.startswith("-") or "`" in destination:
        raise RestoreError(f"--to {destination!r}: with --load, give the name of a new database to create")
    return destination


def load_dump(chain: t.Sequence[Manifest], destination: str, stream: Stream) -> None:
    """Load the chain's dumps, in order, into the new repository or database ``destination``."""
    target = chain[-1]
    if target.source_kind == "subversion":
        _load_svn(chain, destination, stream)
    elif target.source_kind == "postgresql":
        _load_postgres(target, destination, stream)
    else:
        _load_mysql(target, destination, stream)


def _run(argv: t.List[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RestoreError(f"{what} failed: {' '.join(done.stderr.split())[-300:]}")


def _load_svn(chain: t.Sequence[Manifest], destination: str, stream: Stream) -> None:
    _run(["svnadmin", "create", destination], f"svnadmin create {destination}")
    try:
        for manifest in chain:
            if manifest.kind == "DIFF" and manifest.bytes_read == 0:  # no new revision, dumped as nothing (before
                continue  # 0.2.0: an empty file, which svnadmin load refuses)
            log.info("loading %s (%s)", manifest.backup_id, manifest.kind)
            stream(manifest, Stage("svnadmin", ["svnadmin", "load", "--quiet", destination]))
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise


def _load_postgres(target: Manifest, database: str, stream: Stream) -> None:
    """createdb, then pg_restore into it, as the set's User."""
    user = postgres_user(target.source_state)
    _run(as_user(user, ["createdb", "--", database]), f"createdb {database}")
    log.info("loading %s into the new database %s", target.backup_id, database)
    try:
        argv = ["pg_restore", "--exit-on-error", "--no-owner", f"--dbname={conninfo_dbname(database)}"]
        stream(target, Stage("pg_restore", as_user(user, argv)))
    except BaseException:
        dropdb = as_user(user, ["dropdb", "--if-exists", "--", database])
        subprocess.run(dropdb, capture_output=True, check=False)  # noqa: S603
        raise


def _load_mysql(target: Manifest, database: str, stream: Stream) -> None:
    """CREATE DATABASE, then the dump's SQL into it, on the server and with the option file of the backup
    (when that file exists here; otherwise the user's own)."""
    state = target.source_state
    defaults = state.get("defaults_file")
    if defaults and not os.path.exists(defaults):
        log.warning("the backup's DefaultsFile %s is not here; connecting with your own option file", defaults)
        defaults = None
    connection = MysqlTarget(database, state.get("socket"), defaults).connection()
    client = mysql_tool("")
    quoted = "`" + database + "`"  # check_load refused backquotes
    _run([client, *connection, "--batch", "-e", f"CREATE DATABASE {quoted}"], f"creating the database {database}")
    log.info("loading %s into the new database %s", target.backup_id, database)
    try:
        stream(target, Stage(client, [client, *connection, "--binary-mode", f"--database={database}"]))
    except BaseException:
        drop = [client, *connection, "--batch", "-e", f"DROP DATABASE IF EXISTS {quoted}"]
        subprocess.run(drop, capture_output=True, check=False)  # noqa: S603
        raise
