# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sources other than directories (Subversion, PostgreSQL, MySQL): the dumper's standard output is the stream.

A dump goes through the same chunks, compression, encryption, catalog and rotation as a directory. It is
committed only when the dumper itself exited 0: a dump that fails at the head of the pipe fails the backup
with the dumper's own message, and nothing is committed.

Subversion: ``svnadmin dump`` of a repository. With ``Diffs`` above 1 on the set, the DIFFs of a cycle are
``svnadmin dump --incremental`` of the revisions since the newest backup; the revision a backup reaches is
recorded in its manifest (``source_state``), so the catalog, not a local file, says where the next one
starts, and a lost local file cannot leave a gap. A repository that was replaced (another UUID) or rolled
back gets a FULL.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import typing as t
from dataclasses import dataclass, field

from .credentials import warn_if_shared
from .errors import PipelineError, S3napbackError
from .pipeline import Stage

SVN_SUFFIX = ".svndump"


@dataclass(frozen=True)
class SvnState:
    uuid: str
    youngest: int

    @property
    def identity(self) -> str:
        """What a DIFF must build on: the same repository (its UUID), whatever the revision."""
        return hashlib.sha256(f"svn {self.uuid}".encode()).hexdigest()


@dataclass
class DumpPlan:
    """The dumper to run and what the manifest records about the dump."""

    stage: Stage
    state: t.Dict[str, t.Any] = field(default_factory=dict)
    identity: t.Optional[str] = None  # stored as the manifest's snapshot_sha256


def directory_problem(source: str) -> t.Optional[str]:
    """Why a Directory set cannot be backed up as it is named, or None."""
    if not os.path.isdir(source):
        return f"Directory {source} does not exist or is not a folder"
    if os.path.islink(os.path.normpath(source)):  # tar stores the link itself, not what it points to
        target = os.path.realpath(source)
        return f"Directory {source} is a symbolic link, which tar stores alone; name the folder: Directory {target}"
    return None


def _svnlook(argv: t.List[str], repo: str) -> str:
    # in the C locale and UTC: svnlook info prints dates in local time with the locale's day names, and the log
    # in the locale's encoding, and a revision's fingerprint must not change with who runs the backup
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)  # noqa: S603
    except OSError as exc:
        raise PipelineError(f"cannot run {argv[0]}: {exc.strerror}; install Subversion (package subversion)") from None
    if done.returncode != 0:
        detail = " ".join(done.stderr.split())[-300:]
        raise S3napbackError(f"Subversion {repo}: {argv[1]} failed: {detail}")
    return done.stdout.strip()


def is_svn_repository(path: str) -> bool:
    """A folder holding a repository's own layout (format file, db and hooks folders)."""
    return all(os.path.exists(os.path.join(path, part)) for part in ("format", "db", "hooks"))


def svn_state(repo: str) -> SvnState:
    if not is_svn_repository(repo):
        raise S3napbackError(f"Subversion {repo} is not a Subversion repository (no format, db and hooks in it)")
    uuid = _svnlook(["svnlook", "uuid", repo], repo)
    youngest = int(_svnlook(["svnlook", "youngest", repo], repo))
    return SvnState(uuid, youngest)


def svn_revision_mark(repo: str, revision: int) -> str:
    """What revision ``revision`` is (author, date, log, hashed): a repository reloaded or rolled back and then
    committed to again has a revision of that number, but not that one."""
    info = _svnlook(["svnlook", "info", "-r", str(revision), repo], repo)
    return hashlib.sha256(info.encode("utf-8", "surrogateescape")).hexdigest()


def svn_dump_plan(repo: str, state: SvnState, since: t.Optional[int]) -> DumpPlan:
    """A full dump (``since`` None) or the revisions after ``since``, up to the youngest seen now."""
    first = 0 if since is None else since + 1
    incremental = ["--incremental"] if since is not None else []
    argv = ["svnadmin", "dump", "--quiet", "-r", f"{first}:{state.youngest}", *incremental, repo]
    if since is not None and first > state.youngest:
        # Nothing new: a dump of no revisions keeps the schedule's rhythm. It is the dump header alone, which
        # svnadmin load takes (an empty file stops it with "Premature end of content data").
        argv = ["printf", EMPTY_SVN_DUMP]
    return DumpPlan(
        Stage("svnadmin", argv),
        {"uuid": state.uuid, "from_revision": first, "revision": state.youngest},
        state.identity,
    )


EMPTY_SVN_DUMP = "SVN-fs-dump-format-version: 2\n\n"


def repositories_in(folder: str) -> t.List[str]:
    """The repositories directly inside ``folder`` (SubversionDir), by path, sorted."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise S3napbackError(f"SubversionDir {folder}: cannot list it: {exc.strerror}") from None
    return [os.path.join(folder, n) for n in names if is_svn_repository(os.path.join(folder, n))]


# -- PostgreSQL -------------------------------------------------------------------------------------------------
# pg_dump's custom format for one database, uncompressed (zstd does that better, once), which pg_restore
# loads, selectively if wanted; pg_dumpall's SQL for all of them, roles included. The dumper runs as the
# set's User (default postgres) and connects as libpq does (the local socket, or PGHOST/PGPORT, a service
# file, .pgpass): no password is ever on a command line.
PG_SUFFIX = {"one": ".pgdump", "all": ".sql"}


def as_user(user: str, argv: t.List[str]) -> t.List[str]:
    """Run ``argv`` as ``user`` when we are root (the cron job); as ourselves otherwise."""
    if os.geteuid() == 0 and user != "root":
        # cron's PATH is /usr/bin:/bin, and runuser lives in /usr/sbin
        where = os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])
        return [shutil.which("runuser", path=where) or "runuser", "-u", user, "--", *argv]
    return argv


def conninfo_dbname(database: str) -> str:
    """``--dbname`` as a connection string naming the database: a bare value with ``=`` in it (or starting like a
    URI) is read by libpq as a connection string, so ``dbname=postgres`` would connect to another database."""
    return "dbname='" + database.replace("\\", "\\\\").replace("'", "\\'") + "'"


def postgres_user(options: t.Mapping[str, str]) -> str:
    return options.get("user") or "postgres"


def postgres_dump_plan(database: str, options: t.Mapping[str, str]) -> DumpPlan:
    user = postgres_user(options)
    if database == "all":
        stage = Stage("pg_dumpall", as_user(user, ["pg_dumpall", "--quote-all-identifiers"]))
    else:
        dump = ["pg_dump", "--format=custom", "--compress=0", f"--dbname={conninfo_dbname(database)}"]
        stage = Stage("pg_dump", as_user(user, dump))
    return DumpPlan(stage, {"database": database, "format": "sql" if database == "all" else "custom", "user": user})


# -- MySQL / MariaDB ----------------------------------------------------------------------------------------------
# mysqldump's SQL in one transaction (a consistent snapshot of InnoDB tables without locking the server), with
# routines, events and triggers. Credentials come from an option file: the set's DefaultsFile, or the user's
# own ~/.my.cnf (or the unix_socket login of root on Debian): never from the command line. The seed's
# SOCKET:DATABASE form picks the server by its socket.
MYSQL_SUFFIX = ".sql"


@dataclass(frozen=True)
class MysqlTarget:
    database: str  # a database, or "all"
    socket: t.Optional[str] = None
    defaults_file: t.Optional[str] = None

    @classmethod
    def of(cls, source: str, options: t.Mapping[str, str]) -> MysqlTarget:
        socket, database = source.rsplit(":", 1) if source.startswith("/") else ("", source)
        return cls(database, socket or None, options.get("defaultsfile") or None)

    def connection(self) -> t.List[str]:
        """The client's connection options; the option file must come first, as the clients require."""
        argv = [f"--defaults-file={self.defaults_file}"] if self.defaults_file else []
        return argv + ([f"--socket={self.socket}"] if self.socket else [])

    @property
    def server(self) -> str:
        return f"the server on {self.socket}" if self.socket else "the local server"


def mysql_tool(role: str) -> str:
    """MariaDB's own name for a client (``dump``, or ``""`` for the shell) when installed, else MySQL's:
    MariaDB 11 warns on every run of the old names."""
    mariadb = f"mariadb-{role}" if role else "mariadb"
    mysql = {"dump": "mysqldump", "": "mysql"}[role]
    return mariadb if shutil.which(mariadb) or not shutil.which(mysql) else mysql


def mysql_dump_plan(source: str, options: t.Mapping[str, str]) -> DumpPlan:
    target = MysqlTarget.of(source, options)
    argv = [mysql_tool("dump"), *target.connection()]
    argv += ["--single-transaction", "--routines", "--events", "--triggers", "--hex-blob", "--quick"]
    # all: the mysql database's grants come back working only with a FLUSH PRIVILEGES after them in the dump
    argv += ["--all-databases", "--flush-privileges"] if target.database == "all" else [target.database]
    state = {"database": target.database, "format": "sql", "socket": target.socket}
    state["defaults_file"] = target.defaults_file
    if target.defaults_file:
        try:  # it holds the database password, as S3KeyFile holds the S3 secret
            warn_if_shared(target.defaults_file, os.stat(target.defaults_file), "DefaultsFile")
        except OSError:
            pass  # mysqldump names a missing file itself
    return DumpPlan(Stage(argv[0], argv), state)
