# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parser of the s3napback configuration file.

The format is the seed's: Apache-style ``Name value...`` directives, one per line, and
``<Block arg> ... </Block>`` sections. Directive and block names are case-insensitive (``S3Keyfile`` is
``S3KeyFile``), and so are keyword values (``zstd``, ``yes``, ``SimpleCycle``...). ``#`` outside double
quotes starts a comment, also after a value; quote a value that contains spaces or ``#``
(``Exclude "*.tmp files"``); inside quotes ``\\"`` and ``\\\\`` stand for ``"`` and ``\\``. Leading
whitespace and blank lines are ignored. A directive that takes one value may be given once per scope.

Global directives (top level only):

- ``DiffDir PATH``: absolute directory where GNU tar keeps its snapshot (``-g``) files.
- ``Bucket NAME``: the destination bucket.
- ``GpgRecipient ID...``: public key(s) to encrypt to; repeatable, several per line allowed.
- ``GpgKeyring PATH``: the keyring holding those public keys (default: gpg's own).
- ``S3KeyFile PATH``: the file with the S3 credentials.
- ``ChunkSize BYTES``: size of the chunks stored on S3, 64KiB..5GiB; a plain number or with the suffix
  K, M, G, KiB, MiB or GiB (all powers of 1024). Default 64MiB.
- ``NotifyEmail ADDR...``: where reports are mailed; repeatable.
- ``NotifyOn always|failure``: mail after every run (default) or only after one that failed.
- ``NotifyFrom ADDR``: the sender (default ``s3napback@`` the host name).
- ``SmtpServer HOST[:PORT]``: send through this SMTP server (default port 587, or 465 with ``SmtpSecurity
  tls``); without it, through the local ``sendmail``.
- ``SmtpSecurity starttls|tls|none``: STARTTLS (default), TLS from the start, or plain (a local relay).
- ``SmtpCredentialsFile PATH``: ``user=`` and ``password=`` lines for SMTP authentication.
- ``HeartbeatUrl URL``: pinged on start (``URL/start``), success (``URL``) and failure (``URL/fail``), the
  healthchecks.io convention, with a short timeout.
- ``MetricsFile PATH``: a Prometheus textfile (node exporter's textfile collector) written after each run.
- ``LogFile PATH``: the log file.
- ``LogLevel N``: 0 = error, 1 = warning, 2 = info (default), 3 and 4 = debug; or one of the names
  error, warning (warn), info, debug. Stored as the number.
- ``S3Endpoint URL``: an S3-compatible endpoint (``http://`` or ``https://``); default AWS.
- ``S3Region NAME``: the region of the bucket.
- ``S3Prefix PREFIX``: key prefix inside the bucket, without leading/trailing slashes; may be ``""``.
- ``S3AddressingStyle auto|path|virtual``: bucket addressing (default auto).
- ``HostName NAME``: the host's name in every key (default: the fully qualified host name).
- ``Parallel N``: parallel uploads, 1..64 (default 4).
- ``Compression zstd|gzip|none [LEVEL]``: default zstd level 3; zstd 1..19, gzip 1..9 (default 6).
- ``Encryption gpg|none``: default gpg.
- ``ObjectLock none|governance|compliance [MARGIN_DAYS]``: upload with S3 Object Lock in that mode, each
  backup retained until the day its policy may first retire it plus MARGIN_DAYS (default 7); the bucket
  must have Object Lock enabled. Rotation then deletes only backups whose lock has expired.

Timing (top level as defaults for every set, in ``<Cycle>`` blocks, in set blocks):

- ``Frequency F``: back up every F days (>= 1).
- ``Diffs D``: the cycle length between fulls, the full included (>= 0; 0 and 1 = every backup full).
- ``Fulls N``: how many cycles to keep (>= 1).
- ``Phase P``: shifts the schedule by P days (>= 0, default 0).
- ``CycleType SimpleCycle|HanoiCycle|GFSCycle``: the retention scheme (default SimpleCycle, the seed's).
  ``HanoiCycle`` makes fulls only (Diffs and Fulls do not apply) and keeps ``Discs N`` of them in the
  Tower-of-Hanoi rotation; ``ArchiveOldestDisc yes`` keeps every backup of the last disc for good.
  ``GFSCycle`` (grandfather-father-son) makes fulls and diffs as ``Diffs`` says and keeps the newest backup
  of each of the last ``KeepDaily`` days, ``KeepWeekly`` ISO weeks, ``KeepMonthly`` months and
  ``KeepYearly`` years that have one (Fulls does not apply), each with the backups it builds on.
- ``StorageClass NAME``: S3 storage class of a set's objects (default: the bucket's), e.g. STANDARD_IA.
- ``ArchiveStorageClass NAME``: the storage class of backups HanoiCycle's ArchiveOldestDisc keeps for good
  (every backup on the last disc), e.g. GLACIER_IR; default: StorageClass.
- ``Exclude PATTERN``: a tar ``--exclude`` pattern, repeatable; for directories only. Excludes add up
  (top level, then cycle, then set block); every other setting is taken from the innermost scope.

Sets: ``Directory PATH``, ``MySQL NAME``, ``PostgreSQL NAME``, ``Subversion PATH``,
``SubversionDir PATH``, as lines at top level or in a ``<Cycle [name]>`` (with the seed's inline form
``Directory PATH FREQUENCY DIFFS FULLS`` overriding the enclosing timing), or as top-level blocks
``<Directory PATH> ... </Directory>``. ``<MySQL NAME>`` may hold ``DefaultsFile PATH``,
``<PostgreSQL NAME>`` may hold ``User NAME``. A MySQL NAME is a database, ``all``, or the seed's
``SOCKET:DATABASE`` naming the server by its socket. Blocks do not nest. Timing set at top level applies
wherever it appears in the file. Dumps are always full: MySQL and PostgreSQL ignore Diffs; Subversion
keeps a Diffs given on the set itself (its block or inline form) and is otherwise full.

Every error is a ``ConfigError`` reading ``FILE:LINE: what is wrong; what was expected``.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import typing as t
from dataclasses import dataclass, field
from difflib import get_close_matches
from urllib.parse import urlparse

from .errors import ConfigError

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
MIN_CHUNK_SIZE = 64 * KIB
# 5 GiB is the largest object a single S3 PUT accepts.
MAX_CHUNK_SIZE = 5 * GIB

SET_KINDS: t.Dict[str, str] = {
    "directory": "Directory",
    "mysql": "MySQL",
    "postgresql": "PostgreSQL",
    "subversion": "Subversion",
    "subversiondir": "SubversionDir",
}
_DUMP_KINDS = ("mysql", "postgresql")
_SVN_KINDS = ("subversion", "subversiondir")
_PATH_KINDS = ("directory", "subversion", "subversiondir")

_GLOBAL_NAMES: t.Dict[str, str] = {
    n.lower(): n
    for n in (
        "DiffDir",
        "Bucket",
        "GpgRecipient",
        "GpgKeyring",
        "S3KeyFile",
        "ChunkSize",
        "NotifyEmail",
        "LogFile",
        "LogLevel",
        "S3Endpoint",
        "S3Region",
        "S3Prefix",
        "S3AddressingStyle",
        "HostName",
        "Parallel",
        "Compression",
        "Encryption",
        "ObjectLock",
        "NotifyOn",
        "NotifyFrom",
        "SmtpServer",
        "SmtpSecurity",
        "SmtpCredentialsFile",
        "HeartbeatUrl",
        "MetricsFile",
    )
}
_TIMING_NAMES: t.Dict[str, str] = {
    n.lower(): n
    for n in (
        "Frequency",
        "Diffs",
        "Fulls",
        "Phase",
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
}
CYCLE_TYPES = ("SimpleCycle", "HanoiCycle", "GFSCycle")
GFS_KEEPS = ("keepdaily", "keepweekly", "keepmonthly", "keepyearly")
# Set-block options: which block kind accepts them.
_OPTION_NAMES: t.Dict[str, t.Tuple[str, str]] = {
    "defaultsfile": ("DefaultsFile", "mysql"),
    "user": ("User", "postgresql"),
}
_REPEATABLE = ("gpgrecipient", "notifyemail", "exclude")

_COMPRESSION_LEVELS: t.Dict[str, t.Optional[t.Tuple[int, int, int]]] = {
    # name: (min, max, default) or None when no level applies
    "zstd": (1, 19, 3),
    "gzip": (1, 9, 6),
    "none": None,
}
_LOG_LEVEL_NAMES = {"error": 0, "warning": 1, "warn": 1, "info": 2, "debug": 3}
_BOOLEANS = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}
_CHUNK_RE = re.compile(r"([0-9]{1,12})(k|m|g|kib|mib|gib)?", re.IGNORECASE)
_CHUNK_UNITS = {"": 1, "k": KIB, "kib": KIB, "m": MIB, "mib": MIB, "g": GIB, "gib": GIB}
# Bounded so that absurd input cannot hit int() limits.
_UINT_RE = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class Schedule:
    """When a set is backed up and how many backups are kept (the seed's semantics)."""

    frequency: int
    diffs: int  # as configured (0 and 1 = all fulls)
    fulls: int
    phase: int = 0
    cycle_type: str = "SimpleCycle"
    discs: t.Optional[int] = None
    archive_oldest_disc: bool = False
    keep_daily: int = 0  # GFSCycle: how many days, weeks, months, years keep their newest backup
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0

    @property
    def cycle_length(self) -> int:
        """Backups per cycle, the full included (HanoiCycle makes fulls only)."""
        return 1 if self.cycle_type == "HanoiCycle" else max(self.diffs, 1)

    @property
    def slots(self) -> int:
        """The slots backups rotate through: SimpleCycle's N x D, HanoiCycle's discs; for GFSCycle the
        position in the cycle (its retention goes by the calendar, not by slots)."""
        if self.cycle_type == "HanoiCycle":
            return self.discs or 1
        if self.cycle_type == "GFSCycle":
            return self.cycle_length
        return self.cycle_length * self.fulls

    @property
    def gfs_points(self) -> int:
        return self.keep_daily + self.keep_weekly + self.keep_monthly + self.keep_yearly


@dataclass(frozen=True)
class BackupSet:
    """One thing to back up: a directory, a database dump or Subversion repositories."""

    kind: str  # "directory" | "mysql" | "postgresql" | "subversion" | "subversiondir"
    source: str  # the path or database name as written
    name: str  # "/etc", "mysql/all", "postgresql/app", "svn/home/svn/repos"
    schedule: Schedule
    excludes: t.Tuple[str, ...] = ()
    cycle: t.Optional[str] = None  # name of the enclosing <Cycle>, if it has one
    origin: str = ""  # "FILE:LINE" where it was declared
    storage_class: t.Optional[str] = None
    archive_storage_class: t.Optional[str] = None  # HanoiCycle's archived discs
    # Not hashed: a dict is unhashable, and the other fields identify the set.
    options: t.Mapping[str, str] = field(default_factory=dict, hash=False)


def _default_host_name() -> str:
    """The FQDN, but never a bare "localhost", which would make hosts share one place in the bucket."""
    name = socket.getfqdn().rstrip(".")
    if not name or name.startswith("localhost"):
        name = socket.gethostname().rstrip(".") or name
    return name


@dataclass
class Config:
    """A parsed configuration file."""

    source: str  # file path or "<stdin>"
    diff_dir: t.Optional[str] = None
    bucket: t.Optional[str] = None
    gpg_recipients: t.List[str] = field(default_factory=list)
    gpg_keyring: t.Optional[str] = None
    s3_key_file: t.Optional[str] = None
    chunk_size: int = 64 * MIB
    notify_email: t.List[str] = field(default_factory=list)
    log_file: t.Optional[str] = None
    log_level: int = 2
    s3_endpoint: t.Optional[str] = None
    s3_region: t.Optional[str] = None
    s3_prefix: str = ""
    s3_addressing_style: str = "auto"
    host_name: str = field(default_factory=_default_host_name)
    parallel: int = 4
    compression: str = "zstd"
    compression_level: t.Optional[int] = 3
    encryption: str = "gpg"
    object_lock: t.Optional[str] = None  # GOVERNANCE or COMPLIANCE
    object_lock_margin_days: int = 7
    notify_on: str = "always"  # or "failure"
    notify_from: t.Optional[str] = None
    smtp_server: t.Optional[str] = None
    smtp_port: t.Optional[int] = None
    smtp_security: str = "starttls"  # or "tls", "none"
    smtp_credentials_file: t.Optional[str] = None
    heartbeat_url: t.Optional[str] = None
    metrics_file: t.Optional[str] = None
    sets: t.List[BackupSet] = field(default_factory=list)

    def require_for_backup(self) -> None:
        """Raise ConfigError naming every global directive a backup run needs but the file lacks."""
        missing = []
        if not self.bucket:
            missing.append("Bucket is not set; add 'Bucket NAME' at top level")
        if not self.diff_dir:
            missing.append("DiffDir is not set; add 'DiffDir PATH' at top level (tar keeps its snapshot files there)")
        if self.encryption == "gpg" and not self.gpg_recipients:
            missing.append("Encryption gpg needs a public key; add GpgRecipient or set Encryption none")
        if missing:
            raise ConfigError(f"{self.source}: " + "; ".join(missing))

    def select(self, names: t.Sequence[str]) -> t.List[BackupSet]:
        """The sets with these names, in config order; no names means every set.

        Paths are compared normalised (``/etc/`` is ``/etc``, ``svn/x/`` is ``svn/x``).
        """
        if not names:
            return list(self.sets)
        wanted = set()
        for raw in names:
            name = _normalise_set_name(raw)
            if not any(s.name == name for s in self.sets):
                known = ", ".join(s.name for s in self.sets) or "none"
                raise ConfigError(f"{self.source}: no set named '{raw}' in this config; known sets: {known}")
            wanted.add(name)
        return [s for s in self.sets if s.name in wanted]


def _normpath(path: str) -> str:
    """os.path.normpath, except that POSIX's special leading "//" is collapsed too."""
    norm = os.path.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    return norm


def _set_name(kind: str, source: str) -> str:
    if kind == "directory":
        return _normpath(source)
    if kind in _SVN_KINDS:
        return "svn" + _normpath(source)
    return f"{kind}/{source}"


def _normalise_set_name(raw: str) -> str:
    if raw.startswith("/"):
        return _normpath(raw)
    if raw.startswith("svn/"):
        return "svn" + _normpath(raw[3:])
    return raw


def _is_database_name(name: str) -> bool:
    return bool(name) and "/" not in name and not name.startswith("-")


def _show(value: str) -> str:
    """A value as it would be written in the file (quoted when needed)."""
    if value == "" or any(c.isspace() or c in '#"' for c in value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


@dataclass
class _Scope:
    """The top level or one open block, with what was set in it."""

    kind: str  # "top", "cycle" or a set kind
    written: str  # block name as written, for the closing-tag messages
    arg: t.Optional[str]
    line: int
    timing: t.Dict[str, object] = field(default_factory=dict)
    excludes: t.List[str] = field(default_factory=list)
    options: t.Dict[str, str] = field(default_factory=dict)
    seen: t.Dict[str, int] = field(default_factory=dict)  # directive -> line, to refuse repeats

    @property
    def tag(self) -> str:
        return f"<{self.written}>" if self.arg is None else f"<{self.written} {_show(self.arg)}>"


@dataclass
class _PendingSet:
    """A declared set, resolved against its scopes once the whole file is read."""

    kind: str
    source: str
    line: int
    own: t.Dict[str, object]  # timing from its block or inline form
    own_scope: t.Optional[_Scope]  # its block, if declared as one
    cycle: t.Optional[_Scope]


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.top = _Scope("top", "", None, 0)
        self.stack: t.List[_Scope] = []
        self.values: t.Dict[str, object] = {}
        self.recipients: t.List[str] = []
        self.emails: t.List[str] = []
        self.pending: t.List[_PendingSet] = []
        self.cycle_names: t.Dict[str, int] = {}
        self.lineno = 0

    # -- helpers -------------------------------------------------------------------------------------

    def error(self, message: str, line: t.Optional[int] = None) -> ConfigError:
        return ConfigError(f"{self.source}:{self.lineno if line is None else line}: {message}")

    def where(self, scope: _Scope) -> str:
        return "at top level" if scope.kind == "top" else f"in {scope.tag} (line {scope.line})"

    def one(self, name: str, args: t.List[str], meta: str) -> str:
        if len(args) != 1:
            raise self.error(f"{name} expects one value ({meta}), got {len(args)}")
        return args[0]

    def uint(self, name: str, value: str, minimum: int, maximum: t.Optional[int], meta: str) -> int:
        if _UINT_RE.fullmatch(value):
            number = int(value)
            if number >= minimum and (maximum is None or number <= maximum):
                return number
        raise self.error(f"{name} expects {meta}, got '{value}'")

    def once(self, scope: _Scope, key: str, name: str) -> None:
        if key in scope.seen:
            raise self.error(f"{name} is already set at line {scope.seen[key]} {self.where(scope)}; give it once")
        scope.seen[key] = self.lineno

    # -- lexing --------------------------------------------------------------------------------------

    def strip_comment(self, line: str) -> str:
        in_quotes = False
        i = 0
        while i < len(line):
            c = line[i]
            if in_quotes and c == "\\":
                i += 2
                continue
            if c == '"':
                in_quotes = not in_quotes
            elif c == "#" and not in_quotes:
                return line[:i]
            i += 1
        return line

    def split(self, line: str) -> t.List[str]:
        tokens: t.List[str] = []
        i, n = 0, len(line)
        while i < n:
            if line[i].isspace():
                i += 1
                continue
            if line[i] != '"':
                j = i
                while j < n and not line[j].isspace():
                    j += 1
                tokens.append(line[i:j])
                i = j
                continue
            buf: t.List[str] = []
            i += 1
            while True:
                if i >= n:
                    raise self.error('unterminated quoted value; expected a closing "')
                c = line[i]
                if c == "\\" and i + 1 < n and line[i + 1] in '"\\':
                    buf.append(line[i + 1])
                    i += 2
                    continue
                i += 1
                if c == '"':
                    break
                buf.append(c)
            if i < n and not line[i].isspace():
                raise self.error("text right after a closing quote; expected a space between values")
            tokens.append("".join(buf))
        return tokens

    # -- the file ------------------------------------------------------------------------------------

    def parse(self) -> Config:
        text = self.text[1:] if self.text.startswith("\ufeff") else self.text
        # Split on "\n" only, so line numbers match what editors show (splitlines() also breaks on \f, \v...).
        for self.lineno, raw in enumerate(text.split("\n"), start=1):
            line = self.strip_comment(raw).strip()
            if not line:
                continue
            if line.startswith("<"):
                self.block_line(line)
            else:
                words = self.split(line)
                self.directive(words[0], words[1:])
        if self.stack:
            scope = self.stack[-1]
            raise self.error(f"{scope.tag} opened here is never closed; expected </{scope.written}>", scope.line)
        return self.build()

    def block_line(self, line: str) -> None:
        if not line.endswith(">"):
            raise self.error(f"block tag '{line}' does not end with '>'; expected <Name argument> or </Name>")
        inner = line[1:-1].strip()
        if inner.startswith("/"):
            self.close_block(inner[1:].strip())
            return
        words = self.split(inner)
        if not words:
            raise self.error("empty block tag '<>'; expected <Cycle [name]> or <Directory PATH> and the like")
        written, args = words[0], words[1:]
        kind = written.lower()
        if kind != "cycle" and kind not in SET_KINDS:
            raise self.error(
                f"unknown block <{written}>; expected <Cycle [name]>, <Directory PATH>, <MySQL NAME>,"
                " <PostgreSQL NAME>, <Subversion PATH> or <SubversionDir PATH>"
            )
        if self.stack:
            outer = self.stack[-1]
            raise self.error(
                f"<{written}> cannot be inside {outer.tag} opened at line {outer.line}; blocks do not nest,"
                f" close </{outer.written}> first"
            )
        if kind == "cycle":
            if len(args) > 1:
                raise self.error(
                    f"<{written}> takes at most one name, got {len(args)} values; quote a name with spaces"
                )
            name = args[0] if args else None
            if name is not None:
                if name in self.cycle_names:
                    raise self.error(
                        f"<Cycle {_show(name)}> is already declared at line {self.cycle_names[name]};"
                        " give each cycle its own name"
                    )
                self.cycle_names[name] = self.lineno
            self.stack.append(_Scope("cycle", written, name, self.lineno))
            return
        if len(args) != 1:
            meta = "PATH" if kind in _PATH_KINDS else "NAME"
            raise self.error(f"<{written}> expects one value ({meta}), got {len(args)}; quote a value with spaces")
        scope = _Scope(kind, written, args[0], self.lineno)
        self.stack.append(scope)
        self.add_set(kind, args[0], scope.timing, scope, None)

    def close_block(self, written: str) -> None:
        if not written or any(c.isspace() for c in written):
            raise self.error(f"closing tag '</{written}>' is malformed; expected </Name> with no values")
        if not self.stack:
            raise self.error(f"</{written}> closes nothing; no block is open here")
        scope = self.stack[-1]
        if written.lower() != scope.kind:
            raise self.error(
                f"</{written}> does not close {scope.tag} opened at line {scope.line}; expected </{scope.written}>"
            )
        self.stack.pop()

    def directive(self, written: str, args: t.List[str]) -> None:
        key = written.lower()
        scope = self.stack[-1] if self.stack else self.top
        if key in _GLOBAL_NAMES:
            name = _GLOBAL_NAMES[key]
            if scope is not self.top:
                raise self.error(
                    f"{name} is a global directive and cannot appear in {scope.tag} opened at line {scope.line};"
                    " move it to the top level"
                )
            if key not in _REPEATABLE:
                self.once(scope, key, name)
            getattr(self, "g_" + key)(name, args)
        elif key in _TIMING_NAMES:
            name = _TIMING_NAMES[key]
            self.once(scope, key, name)
            scope.timing[key] = self.timing_value(key, name, args)
        elif key == "exclude":
            if scope.kind not in ("top", "cycle", "directory"):
                raise self.error(f"Exclude applies to directories only and cannot appear in {scope.tag}")
            scope.excludes.append(self.one("Exclude", args, 'a tar pattern; quote one with spaces, "a b"'))
        elif key in SET_KINDS:
            if scope.kind not in ("top", "cycle"):
                raise self.error(
                    f"{SET_KINDS[key]} cannot appear in {scope.tag} opened at line {scope.line}; declare sets at"
                    " top level or in a <Cycle>"
                )
            self.set_line(key, args, scope)
        elif key in _OPTION_NAMES:
            name, kind = _OPTION_NAMES[key]
            if scope.kind != kind:
                raise self.error(f"{name} is allowed only in a <{SET_KINDS[kind]} NAME> block")
            self.once(scope, key, name)
            scope.options[key] = self.one(name, args, "PATH" if key == "defaultsfile" else "NAME")
        else:
            raise self.error(f"unknown directive '{written}' {self.where(scope)}; {self.expected(scope, key)}")

    def expected(self, scope: _Scope, key: str) -> str:
        """Suggest the nearest valid directive, or list them."""
        names = list(_TIMING_NAMES.values())
        if scope.kind == "top":
            names = list(_GLOBAL_NAMES.values()) + names + ["Exclude"] + list(SET_KINDS.values())
        elif scope.kind == "cycle":
            names += ["Exclude"] + list(SET_KINDS.values())
        elif scope.kind == "directory":
            names.append("Exclude")
        names += [n for n, kind in _OPTION_NAMES.values() if kind == scope.kind]
        close = get_close_matches(key, [n.lower() for n in names], n=1)
        if close:
            return "did you mean " + next(n for n in names if n.lower() == close[0]) + "?"
        return "expected one of " + ", ".join(names)

    # -- sets ----------------------------------------------------------------------------------------

    def set_line(self, kind: str, args: t.List[str], scope: _Scope) -> None:
        name = SET_KINDS[kind]
        meta = "PATH" if kind in _PATH_KINDS else "NAME"
        if len(args) not in (1, 4):
            raise self.error(f"{name} expects 1 value ({meta}) or 4 ({meta} FREQUENCY DIFFS FULLS), got {len(args)}")
        own: t.Dict[str, object] = {}
        if len(args) == 4:
            where = f"on the {name} line"
            own["frequency"] = self.uint(f"Frequency {where}", args[1], 1, None, "a whole number of days >= 1")
            own["diffs"] = self.uint(f"Diffs {where}", args[2], 0, None, "a whole number >= 0")
            own["fulls"] = self.uint(f"Fulls {where}", args[3], 1, None, "a whole number of cycles >= 1")
        self.add_set(kind, args[0], own, None, scope if scope.kind == "cycle" else None)

    def add_set(
        self, kind: str, source: str, own: t.Dict[str, object], own_scope: t.Optional[_Scope], cycle: t.Optional[_Scope]
    ) -> None:
        name = SET_KINDS[kind]
        if kind in _PATH_KINDS:
            if not os.path.isabs(source):
                raise self.error(f"{name} expects an absolute path, got '{source}'")
        elif kind == "mysql" and source.startswith("/"):  # the seed's SOCKET:DATABASE
            socket_path, database = source.rsplit(":", 1) if ":" in source else ("", "")
            if not socket_path or not _is_database_name(database):
                raise self.error(f"MySQL expects SOCKET:DATABASE with an absolute socket path, got '{source}'")
        elif not _is_database_name(source):
            raise self.error(f"{name} expects a database name (or 'all') without '/' or a leading '-', got '{source}'")
        set_name = _set_name(kind, source)
        for other in self.pending:
            if _set_name(other.kind, other.source) == set_name:
                raise self.error(
                    f"{name} {_show(source)} duplicates the set {set_name} declared at line {other.line};"
                    " declare each set once"
                )
        self.pending.append(_PendingSet(kind, source, self.lineno, own, own_scope, cycle))

    def resolve(self, p: _PendingSet) -> BackupSet:
        chain = [p.own] + ([p.cycle.timing] if p.cycle else []) + [self.top.timing]

        def get(key: str) -> t.Optional[object]:
            for timing in chain:
                if key in timing:
                    return timing[key]
            return None

        if p.kind in _DUMP_KINDS:
            diffs: t.Optional[object] = 1  # dumps are always full
        elif p.kind in _SVN_KINDS:
            # Only a Diffs given on the set itself asks for incremental dumps: the seed ignored Diffs.
            diffs = p.own.get("diffs", 1)
        else:
            diffs = get("diffs")
        cycle_type = t.cast(str, get("cycletype") or "SimpleCycle")
        if cycle_type == "HanoiCycle":
            diffs = 1  # fulls only, as in the later s3napback
        values = {"Frequency": get("frequency"), "Diffs": diffs, "Fulls": get("fulls")}
        if cycle_type != "SimpleCycle":
            values.pop("Fulls")  # Discs or the Keep* counts say what is kept
        if cycle_type == "HanoiCycle":
            values["Discs"] = get("discs")
        missing = [n for n, v in values.items() if v is None]
        if missing:
            label = f"{SET_KINDS[p.kind]} {_show(p.source)}"
            what = " and ".join(missing)
            if p.own_scope is not None:
                hint = f"add {what} inside {p.own_scope.tag} or at top level"
            else:
                places = [f"to {p.cycle.tag} (line {p.cycle.line})"] if p.cycle else []
                places.append("at top level")
                hint = f"add {what} {' or '.join(places)}, or write {label} FREQUENCY DIFFS FULLS"
            raise self.error(f"{label} has no {what}; {hint}", p.line)
        keeps = {key: t.cast(int, get(key) or 0) for key in GFS_KEEPS}
        if cycle_type == "GFSCycle" and not any(keeps.values()):
            label = f"{SET_KINDS[p.kind]} {_show(p.source)}"
            raise self.error(
                f"{label} has CycleType GFSCycle but keeps nothing; add KeepDaily N (or KeepWeekly,"
                " KeepMonthly, KeepYearly) where its timing is set",
                p.line,
            )
        schedule = Schedule(
            frequency=t.cast(int, values["Frequency"]),
            diffs=t.cast(int, diffs),
            fulls=t.cast(int, values.get("Fulls") or 1),
            phase=t.cast(int, get("phase") or 0),
            cycle_type=cycle_type,
            discs=t.cast(t.Optional[int], get("discs")),
            archive_oldest_disc=bool(get("archiveoldestdisc")),
            keep_daily=keeps["keepdaily"],
            keep_weekly=keeps["keepweekly"],
            keep_monthly=keeps["keepmonthly"],
            keep_yearly=keeps["keepyearly"],
        )
        excludes: t.Tuple[str, ...] = ()
        if p.kind == "directory":
            scopes = [self.top] + ([p.cycle] if p.cycle else []) + ([p.own_scope] if p.own_scope else [])
            # Keep the first occurrence only: tar does not need a pattern twice.
            excludes = tuple(dict.fromkeys(e for s in scopes for e in s.excludes))
        return BackupSet(
            kind=p.kind,
            source=p.source,
            name=_set_name(p.kind, p.source),
            schedule=schedule,
            excludes=excludes,
            cycle=p.cycle.arg if p.cycle else None,
            origin=f"{self.source}:{p.line}",
            storage_class=t.cast(t.Optional[str], get("storageclass")),
            archive_storage_class=t.cast(t.Optional[str], get("archivestorageclass") or get("storageclass")),
            options=dict(p.own_scope.options) if p.own_scope else {},
        )

    # -- timing --------------------------------------------------------------------------------------

    def timing_value(self, key: str, name: str, args: t.List[str]) -> object:
        if key == "cycletype":
            value = self.one(name, args, "SimpleCycle, HanoiCycle or GFSCycle").lower()
            for cycle_type in CYCLE_TYPES:
                if value == cycle_type.lower():
                    return cycle_type
            raise self.error(f"CycleType expects SimpleCycle, HanoiCycle or GFSCycle, got '{args[0]}'")
        if key in ("storageclass", "archivestorageclass"):
            value = self.one(name, args, "NAME")
            if not re.fullmatch(r"[A-Za-z0-9_-]+", value):
                raise self.error(f"{name} expects a storage class name such as STANDARD_IA, got '{value}'")
            return value
        if key == "archiveoldestdisc":
            value = self.one(name, args, "yes or no")
            if value.lower() not in _BOOLEANS:
                raise self.error(f"ArchiveOldestDisc expects yes or no, got '{value}'")
            return _BOOLEANS[value.lower()]
        minimum, meta = {
            "frequency": (1, "a whole number of days >= 1"),
            "diffs": (0, "a whole number >= 0 (backups per cycle, the full included)"),
            "fulls": (1, "a whole number of cycles >= 1"),
            "phase": (0, "a whole number of days >= 0"),
            "discs": (1, "a whole number >= 1"),
            "keepdaily": (0, "a whole number of days >= 0"),
            "keepweekly": (0, "a whole number of weeks >= 0"),
            "keepmonthly": (0, "a whole number of months >= 0"),
            "keepyearly": (0, "a whole number of years >= 0"),
        }[key]
        return self.uint(name, self.one(name, args, meta), minimum, None, meta)

    # -- global directives ---------------------------------------------------------------------------

    def g_diffdir(self, name: str, args: t.List[str]) -> None:
        path = self.one(name, args, "PATH")
        if not os.path.isabs(path):
            raise self.error(f"DiffDir expects an absolute path, got '{path}'")
        self.values["diff_dir"] = path

    def g_bucket(self, name: str, args: t.List[str]) -> None:
        bucket = self.one(name, args, "NAME")
        if not bucket or "/" in bucket:
            raise self.error(f"Bucket expects a bucket name without '/', got '{bucket}'; use S3Prefix for a prefix")
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,255}", bucket):  # what boto3 lets through to any store
            raise self.error(f"Bucket expects letters, digits, '.', '-' and '_' only, got {bucket!r}")
        self.values["bucket"] = bucket

    def g_gpgrecipient(self, name: str, args: t.List[str]) -> None:
        if not args or any(not a for a in args):
            raise self.error("GpgRecipient expects one or more key ids, fingerprints or e-mail addresses")
        self.recipients.extend(a for a in args if a not in self.recipients)

    def g_notifyemail(self, name: str, args: t.List[str]) -> None:
        if not args or any(not a for a in args):
            raise self.error("NotifyEmail expects one or more e-mail addresses")
        self.emails.extend(a for a in args if a not in self.emails)

    def path_value(self, attr: str, name: str, args: t.List[str]) -> None:
        value = self.one(name, args, "PATH")
        if not value:
            raise self.error(f"{name} expects a path, got an empty value")
        self.values[attr] = value

    def g_gpgkeyring(self, name: str, args: t.List[str]) -> None:
        self.path_value("gpg_keyring", name, args)

    def g_s3keyfile(self, name: str, args: t.List[str]) -> None:
        self.path_value("s3_key_file", name, args)

    def g_logfile(self, name: str, args: t.List[str]) -> None:
        self.path_value("log_file", name, args)

    def g_chunksize(self, name: str, args: t.List[str]) -> None:
        value = self.one(name, args, "BYTES")
        match = _CHUNK_RE.fullmatch(value)
        if not match:
            raise self.error(
                f"ChunkSize expects a number of bytes, optionally with K, M, G, KiB, MiB or GiB, got '{value}'"
            )
        size = int(match.group(1)) * _CHUNK_UNITS[(match.group(2) or "").lower()]
        if not MIN_CHUNK_SIZE <= size <= MAX_CHUNK_SIZE:
            raise self.error(f"ChunkSize {value} is {size} bytes; expected between 64KiB and 5GiB")
        self.values["chunk_size"] = size

    def g_loglevel(self, name: str, args: t.List[str]) -> None:
        value = self.one(name, args, "0..4 or error, warning, info, debug")
        if value.lower() in _LOG_LEVEL_NAMES:
            self.values["log_level"] = _LOG_LEVEL_NAMES[value.lower()]
        else:
            self.values["log_level"] = self.uint(name, value, 0, 4, "0..4 or error, warning, info, debug")

    def g_s3endpoint(self, name: str, args: t.List[str]) -> None:
        self.values["s3_endpoint"] = self.url(name, args)

    def g_s3region(self, name: str, args: t.List[str]) -> None:
        region = self.one(name, args, "NAME")
        if not region:
            raise self.error("S3Region expects a region name, got an empty value")
        self.values["s3_region"] = region

    def g_s3prefix(self, name: str, args: t.List[str]) -> None:
        prefix = self.one(name, args, 'PREFIX, or "" for none').strip("/")
        if "//" in prefix:
            raise self.error(f"S3Prefix '{args[0]}' has an empty path segment; expected segments separated by one /")
        self.values["s3_prefix"] = prefix

    def g_s3addressingstyle(self, name: str, args: t.List[str]) -> None:
        value = self.one(name, args, "auto, path or virtual")
        if value.lower() not in ("auto", "path", "virtual"):
            raise self.error(f"S3AddressingStyle expects auto, path or virtual, got '{value}'")
        self.values["s3_addressing_style"] = value.lower()

    def g_hostname(self, name: str, args: t.List[str]) -> None:
        host = self.one(name, args, "NAME")
        # The host name is a key segment: it must not be empty or contain a separator.
        if not host or "/" in host:
            raise self.error(f"HostName expects a non-empty name without '/', got '{host}'")
        self.values["host_name"] = host

    def g_parallel(self, name: str, args: t.List[str]) -> None:
        meta = "a whole number of parallel uploads from 1 to 64"
        self.values["parallel"] = self.uint(name, self.one(name, args, meta), 1, 64, meta)

    def g_compression(self, name: str, args: t.List[str]) -> None:
        if len(args) not in (1, 2):
            raise self.error(f"Compression expects zstd, gzip or none and an optional level, got {len(args)} values")
        method = args[0].lower()
        if method not in _COMPRESSION_LEVELS:
            raise self.error(f"Compression expects zstd, gzip or none, got '{args[0]}'")
        levels = _COMPRESSION_LEVELS[method]
        level: t.Optional[int] = None
        if levels is None:
            if len(args) == 2:
                raise self.error("Compression none takes no level; remove the level")
        else:
            low, high, level = levels
            if len(args) == 2:
                level = self.uint(f"Compression {method}", args[1], low, high, f"a level from {low} to {high}")
        self.values["compression"] = method
        self.values["compression_level"] = level

    def g_encryption(self, name: str, args: t.List[str]) -> None:
        value = self.one(name, args, "gpg or none")
        if value.lower() not in ("gpg", "none"):
            raise self.error(f"Encryption expects gpg or none, got '{value}'")
        self.values["encryption"] = value.lower()

    def g_notifyon(self, name: str, args: t.List[str]) -> None:
        value = self.one(name, args, "always or failure").lower()
        if value not in ("always", "failure"):
            raise self.error(f"NotifyOn expects always or failure, got '{args[0]}'")
        self.values["notify_on"] = value

    def g_notifyfrom(self, name: str, args: t.List[str]) -> None:
        value = self.one(name, args, "ADDRESS")
        if "@" not in value:
            raise self.error(f"NotifyFrom expects an e-mail address, got '{value}'")
        self.values["notify_from"] = value

    def g_smtpserver(self, name: str, args: t.List[str]) -> None:
        value = self.one(name, args, "HOST[:PORT]")
        host, port = value.split(":") if value.count(":") == 1 else (value, "")
        if not host or any(c.isspace() or c == "/" for c in host):
            raise self.error(f"SmtpServer expects HOST or HOST:PORT, got '{value}'")
        self.values["smtp_server"] = host
        if port:
            self.values["smtp_port"] = self.uint(name, port, 1, 65535, "a port from 1 to 65535")

    def g_smtpsecurity(self, name: str, args: t.List[str]) -> None:
        value = self.one(name, args, "starttls, tls or none").lower()
        if value not in ("starttls", "tls", "none"):
            raise self.error(f"SmtpSecurity expects starttls, tls or none, got '{args[0]}'")
        self.values["smtp_security"] = value

    def g_smtpcredentialsfile(self, name: str, args: t.List[str]) -> None:
        self.path_value("smtp_credentials_file", name, args)

    def g_heartbeaturl(self, name: str, args: t.List[str]) -> None:
        self.values["heartbeat_url"] = self.url(name, args).rstrip("/")

    def url(self, name: str, args: t.List[str]) -> str:
        url = self.one(name, args, "URL")
        try:
            parsed = urlparse(url)
            parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as exc:
            raise self.error(f"{name} expects a URL, and this one cannot be read: {exc}") from None
        if parsed.scheme.lower() not in ("http", "https") or not parsed.hostname:
            raise self.error(f"{name} expects a URL starting with http:// or https:// and a host")
        if not url.isascii() or any(c.isspace() or not c.isprintable() for c in url):  # (not shown: a token)
            raise self.error(f"{name} holds characters a URL cannot carry as they are (non-ASCII or control ones); "
                             "percent-encode them")  # fmt: skip
        return url

    def g_metricsfile(self, name: str, args: t.List[str]) -> None:
        self.path_value("metrics_file", name, args)
        if not os.path.isabs(self.values["metrics_file"]):
            raise self.error(f"MetricsFile expects an absolute path, got '{self.values['metrics_file']}'")

    def g_objectlock(self, name: str, args: t.List[str]) -> None:
        meta = "none, governance or compliance, and optionally a margin in days"
        if len(args) not in (1, 2) or args[0].lower() not in ("none", "governance", "compliance"):
            raise self.error(f"ObjectLock expects {meta}, got '{' '.join(args)}'")
        if args[0].lower() != "none":
            self.values["object_lock"] = args[0].upper()
        if len(args) == 2:
            self.values["object_lock_margin_days"] = self.uint(name, args[1], 0, 3650, "a margin of 0 to 3650 days")

    # -- result --------------------------------------------------------------------------------------

    def build(self) -> Config:
        sets = [self.resolve(p) for p in self.pending]
        values = dict(self.values)
        if "host_name" not in values:
            # Only look the name up when needed: getfqdn() may query DNS.
            values["host_name"] = _default_host_name()
        config = Config(
            source=self.source,
            host_name=str(values.pop("host_name")),
            gpg_recipients=list(self.recipients),
            notify_email=list(self.emails),
            sets=sets,
        )
        for attr, value in values.items():
            setattr(config, attr, value)
        return config


def parse_config(text: str, source: str = "<stdin>") -> Config:
    """Parse configuration text; ``source`` names it in error messages."""
    return _Parser(text, source).parse()


def load_config(path: t.Optional[str]) -> Config:
    """Read and parse a config file; ``None`` or ``"-"`` reads standard input, as in the seed."""
    if path is None or path == "-":
        source = "<stdin>"
        if sys.stdin.isatty():  # nobody types a config: they forgot -c, and would wait on a silent command
            raise ConfigError("no config: give -c FILE, or the config on standard input (s3napback < FILE)")
        try:
            text = sys.stdin.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config {source}: {exc}") from None
    else:
        source = path
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"cannot read config {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_config(text, source)
