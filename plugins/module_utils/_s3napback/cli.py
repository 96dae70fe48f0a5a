# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``s3napback`` command: what cron runs on each host, and what an operator types."""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import logging
import logging.handlers
import os
import signal
import sys
import traceback
import typing as t

from . import __version__
from .backup import BackupRun, open_store
from .config import Config, load_config
from .errors import ConfigError, OutputError, S3napbackError, Terminated, stop_reason
from .inventory import describe_set, load_or_problem, now_utc, set_names
from .planner import plan_lines, plan_set
from .preflight import run_checks
from .progress import human
from .report import describe
from .restore import RestoreResult, restore_set
from .s3 import S3Store
from .schedule import parse_day as schedule_day
from .verify import verify_named_set

log = logging.getLogger("s3napback")

COMMANDS = ("backup", "list", "restore", "verify", "check", "plan")
SYSLOG_ADDRESS = "/dev/log"  # where syslog and the journal listen
LOG_LEVELS = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO, 3: logging.DEBUG, 4: logging.DEBUG}


def say(text: str, stream: t.Optional[t.TextIO] = None) -> None:
    """Write one line (module_utils code may not use print()).

    A reader that went away (``s3napback list | head``) only ends the output: the rest goes nowhere and the
    command keeps its own exit status. Any other failure to write the output is an error of its own, as
    long as there is a standard error to say it on.
    """
    target = stream or sys.stdout
    if target is not None:  # None: started with that descriptor closed
        _guarded(target, lambda: target.write(text + "\n"))


def _guarded(stream: t.TextIO, write: t.Callable[[], object]) -> None:
    """Write (or flush) ``stream``: a reader that went away ends its output, any other failure of stdout is an
    OutputError (a failing stderr has nowhere to report to)."""
    try:
        write()
    except BrokenPipeError:
        _discard_rest(stream)
    except OSError as exc:
        if stream is not sys.stderr:
            raise OutputError(f"could not write the output: {exc.strerror}") from None


def _discard_rest(stream: t.TextIO) -> None:
    """Point a stream whose reader went away at /dev/null, so what is still buffered or written later is dropped
    instead of failing again (as Python's documentation advises for SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)


def parse_day(text: str) -> datetime.date:
    try:
        return schedule_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s3napback",
        description="Cycling, incremental, compressed, encrypted backups to S3.",
        epilog="With no command, 'backup' is assumed, so 's3napback < FILE' works as in the original.",
    )
    parser.add_argument("--version", action="version", version=f"s3napback {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", metavar="FILE", help="config file (default: read it from standard input)")
    common.add_argument("-d", "--debug", action="store_true", help="log every step")
    common.add_argument("--json", action="store_true", help="print the result as JSON for programs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    backup = sub.add_parser("backup", parents=[common], help="back up the sets that are due")
    backup.add_argument("-t", "--test", action="store_true", help="print what would be done; upload nothing")
    backup.add_argument("-f", "--force", action="store_true", help="back up even if this period is done")
    backup.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME", help="only this set")
    backup.add_argument("--date", type=parse_day, metavar="YYYY-MM-DD", help="act as if today were this day")
    backup.add_argument(
        "--syslog", action="store_true", help="also log to syslog/the journal at LogLevel (as cron runs it)"
    )

    listing = sub.add_parser("list", parents=[common], help="list committed backups")
    listing.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME", help="only this set")
    listing.add_argument("--host", help="another host's backups (default: HostName of the config)")

    restore = sub.add_parser("restore", parents=[common], help="restore a set into an empty folder")
    restore.add_argument("--set", dest="set_name", required=True, metavar="NAME", help="the set (its path)")
    restore.add_argument("--at", default="latest", metavar="WHEN", help="latest, a backup id, YYYY-MM-DD or a time")
    restore.add_argument("--to", dest="destination", required=True, metavar="DIR", help="empty or new folder")
    restore.add_argument("--gnupghome", metavar="DIR", help="GnuPG home holding the private key")
    restore.add_argument("--host", help="restore another host's backup (disaster recovery)")
    restore.add_argument(
        "--path",
        dest="paths",
        action="append",
        default=[],
        metavar="PATH",
        help="only this file or folder (absolute, or relative to the set's folder); repeatable",
    )
    restore.add_argument(
        "--overwrite", action="store_true", help="restore into a folder that is not empty (files are replaced)"
    )
    restore.add_argument(
        "--salvage", action="store_true", help="after a damaged chunk, keep the files restored before it"
    )
    restore.add_argument(
        "--load",
        action="store_true",
        help="a dump: load it into a new repository (Subversion) or new database (PostgreSQL, MySQL) named by --to",
    )

    verify = sub.add_parser("verify", parents=[common], help="check that the committed backups can be restored")
    verify.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME", help="only this set")
    verify.add_argument("--host", help="another host's backups (default: HostName of the config)")
    verify.add_argument("--read-data", action="store_true", help="download every object and check its SHA-256")
    verify.add_argument(
        "--gnupghome", metavar="DIR", help="also decrypt and read every archive with the private key in DIR"
    )
    verify.add_argument("--stale-hours", type=float, metavar="N", help="report a set whose newest good backup is older")

    plan = sub.add_parser("plan", parents=[common], help="replay the schedule day by day, from an empty bucket")
    plan.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME", help="only this set")
    plan.add_argument("--days", type=int, default=56, metavar="N", help="how many days (default 56)")
    plan.add_argument("--from", dest="start", type=parse_day, metavar="YYYY-MM-DD", help="first day (default today)")

    check = sub.add_parser("check", parents=[common], help="check config, tools, keys, sources and bucket")
    check.add_argument(
        "--config-only", action="store_true", help="only parse and validate the config (no keys, tools or S3)"
    )
    return parser


class ReportsFailureOnce(logging.Handler):
    """A log destination that stops taking lines (LogFile on a full disk, syslog gone) is named once, in one
    line, and then left alone; the run goes on. logging's default prints a traceback for every line."""

    where = "log"
    failed = False

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):  # a record that cannot be formatted: a bug, not the destination's
            super().handleError(record)
            return
        if self.failed:  # another thread's line, already past the level check when this one failed
            return
        self.failed = True
        self.setLevel(logging.CRITICAL + 1)  # first, so the warning below does not come back here
        reason = error.strerror or error
        log.warning("%s: cannot write to it (%s); the rest of this run is not logged there", self.where, reason)


class LogFileHandler(ReportsFailureOnce, logging.FileHandler):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.where = f"LogFile {path}"


class SyslogHandler(ReportsFailureOnce, logging.handlers.SysLogHandler):
    where = "syslog"


def setup_logging(debug: bool, config: t.Optional[Config] = None, syslog: bool = False) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if debug else logging.WARNING)
    console.setFormatter(logging.Formatter("s3napback: %(levelname)s: %(message)s"))
    console.addFilter(lambda record: not getattr(record, "logs_only", False))  # said on the terminal otherwise
    root.addHandler(console)
    # botocore logs request bodies and headers at debug level: never let it reach a handler
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # python-gnupg warns "gpg returned a non-zero error code" before the engine names the cause in its one line
    logging.getLogger("gnupg").setLevel(logging.ERROR)
    if config is not None and config.log_file:
        try:
            handler = LogFileHandler(config.log_file)
        except OSError as exc:  # as for a LogFile that stops taking lines: said once, and the run goes on
            logging.getLogger(__name__).warning(
                "LogFile %s: cannot open it (%s); this run logs to standard error only", config.log_file, exc.strerror
            )
        else:
            handler.setLevel(LOG_LEVELS.get(config.log_level, logging.INFO))
            handler.setFormatter(logging.Formatter("%(asctime)s s3napback[%(process)d] %(levelname)s %(message)s"))
            root.addHandler(handler)
    if syslog and not os.path.exists(SYSLOG_ADDRESS):
        logging.getLogger(__name__).warning(
            "--syslog: %s is missing (no syslog daemon?); nothing goes to syslog", SYSLOG_ADDRESS
        )
    elif syslog:
        system = SyslogHandler(address=SYSLOG_ADDRESS)
        system.setLevel(LOG_LEVELS.get(config.log_level, logging.INFO) if config else logging.INFO)
        system.setFormatter(logging.Formatter("s3napback[%(process)d]: %(levelname)s %(message)s"))
        root.addHandler(system)


def cmd_backup(args: argparse.Namespace, config: Config) -> int:
    run = BackupRun(config, day=args.date, force=args.force, test=args.test, show_progress=sys.stderr.isatty())
    results = run.run(config.select(args.sets) if args.sets else list(config.sets))
    if args.json:
        say(json.dumps([r.as_dict() for r in results], indent=1))
    else:
        for result in results:
            say(describe(result))
    return 1 if any(r.action == "FAILED" for r in results) else 0


def _host_sets(args: argparse.Namespace, config: Config, store: S3Store) -> t.Tuple[str, t.List[str]]:
    host = args.host or config.host_name
    if args.sets:
        return host, [s.name for s in config.select(args.sets)]
    return host, set_names(store, config.s3_prefix, host, [s.name for s in config.sets])


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    host, names = _host_sets(args, config, store)
    now = now_utc()
    sets = []
    for name in names:
        listing, problem = load_or_problem(store, config.s3_prefix, host, name)
        sets.append({**describe_set(listing, host, name, now), "problem": problem})
    status = 1 if any(info["problem"] for info in sets) else 0
    if args.json:
        rows = [row for info in sets for row in info["backups"]]
        rows += [
            {
                "host": host,
                "set": info["set"],
                "backup_id": backup_id,
                "kind": "LOST" if backup_id in info["lost"] else "INCOMPLETE",
            }
            for info in sets
            for backup_id in info["incomplete"]
        ]
        rows += [
            {"host": host, "set": i["set"], "kind": "UNREADABLE", "error": i["problem"]} for i in sets if i["problem"]
        ]
        say(json.dumps(rows, indent=1))
        return status
    say(f"host {host}")
    say(
        f"{'BACKUP':<28} {'KIND':<4} {'BASE':<28} {'SLOT':>4} {'FINISHED':<20} {'AGE':>7} "
        f"{'READ':>10} {'STORED':>10} {'CHUNKS':>6}"
    )
    for info in sets:
        say(f"{info['set']}:")
        if info["problem"]:
            say(f"  cannot be listed: {info['problem']}")
            continue
        for row in info["backups"]:
            note = "" if row["restorable"] else "  (not restorable: its chain is incomplete)"
            say(
                f"{row['backup_id']:<28} {row['kind']:<4} {row['base'] or '-':<28} {row['slot']:>4} "
                f"{row['finished']:<20} {_age(row['age_hours']):>7} {human(row['bytes_read']):>10} "
                f"{human(row['bytes_stored']):>10} {row['chunks']:>6}{note}"
            )
        for backup_id in info["incomplete"]:
            if backup_id in info["lost"]:
                say(f"{backup_id:<28} (manifest lost: the backups built on it cannot be restored; kept with them)")
            else:
                say(f"{backup_id:<28} (incomplete: no manifest; removed by the next backup)")
        moments = info["restorable"]
        if moments:
            say(f"  restorable to {len(moments)} moments, from {moments[0]['finished']} to {moments[-1]['finished']}")
        else:
            say("  nothing restorable")
    return status


def _age(hours: t.Optional[float]) -> str:
    if hours is None:
        return "?"
    return f"{hours:.1f}h" if hours < 48 else f"{hours / 24:.1f}d"


def cmd_verify(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    host, names = _host_sets(args, config, store)
    level = "archive" if args.gnupghome else "data" if args.read_data else "objects"
    now = now_utc()
    reports = [
        verify_named_set(
            store,
            config.s3_prefix,
            host,
            name,
            level=level,
            gnupghome=args.gnupghome,
            parallel=config.parallel,
            stale_hours=args.stale_hours,
            now=now,
        )
        for name in names
    ]
    if args.json:
        say(json.dumps(reports, indent=1))
    else:
        for report in reports:
            say(describe_report(report))
            for problem in report["problems"]:
                say(f"  problem: {problem}")
    return 0 if all(r["status"] == "ok" for r in reports) else 1


def describe_report(report: t.Dict[str, t.Any]) -> str:
    head = f"{report['host']} {report['set']}: {report['status'].upper()} ({report['level']})"
    if not report["last_good"]:
        return head + ": no good backup"
    return (
        f"{head}: last good {report['last_good']} ({_age(report['last_good_age_hours'])} ago), "
        f"restorable from {report['restorable_from']} to {report['restorable_to']}, "
        f"{len(report['good'])} of {len(report['backups'])} backups good"
    )


def cmd_restore(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    name = args.set_name
    known = {s.name: s for s in config.sets}
    if name not in known and name.rstrip("/") in known:
        name = name.rstrip("/")
    result = restore_set(
        store,
        prefix=config.s3_prefix,
        host=args.host or config.host_name,
        name=name,
        destination=args.destination,
        at=args.at,
        gnupghome=args.gnupghome,
        parallel=config.parallel,
        show_progress=sys.stderr.isatty(),
        paths=args.paths,
        overwrite=args.overwrite,
        salvage=args.salvage,
        load=args.load,
    )
    if args.json:
        say(json.dumps(result.as_dict(), indent=1))
    else:
        say(describe_restore(result))
    return 0


def describe_restore(result: RestoreResult) -> str:
    what = f"{result.members} members of " if result.paths else ""
    return (
        f"{result.set}: restored {what}{result.target} ({' -> '.join(result.chain)}) into {result.destination}: "
        f"downloaded {human(result.bytes_downloaded)} in {result.chunks} chunks"
        + (f" and {result.indexes} member indexes" if result.indexes else "")
        + ", "
        f"of {human(result.bytes_total)} in {result.chunks_total} stored"
    )


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    checks = run_checks(config, config_only=args.config_only)
    if args.json:
        say(json.dumps([c.as_dict() for c in checks], indent=1))
    else:
        for check in checks:
            say(f"{check.name}: {'ok' if check.ok else 'FAILED'}: {check.detail}")
    return 0 if all(c.ok for c in checks) else 1


def cmd_plan(args: argparse.Namespace, config: Config) -> int:
    if not 1 <= args.days <= 36600:
        raise ConfigError(f"--days {args.days}: give a number of days from 1 to 36600")
    start = args.start or datetime.date.today()
    try:
        plans = [plan_set(s, start, args.days) for s in (config.select(args.sets) if args.sets else config.sets)]
    except OverflowError:  # the replay (and what it retires) would run past the last day a date can be
        raise ConfigError(f"--from {start} --days {args.days}: the replay would run past the year 9999") from None
    if args.json:
        say(json.dumps([p.as_dict() for p in plans], indent=1))
        return 0
    for number, plan in enumerate(plans):
        if number:
            say("")
        for line in plan_lines(plan):
            say(line)
    return 0


def raise_terminated(signum: int, frame: t.Any) -> None:  # noqa: ARG001 - signal handler signature
    raise Terminated()


HANDLERS = {
    "backup": cmd_backup,
    "list": cmd_list,
    "restore": cmd_restore,
    "verify": cmd_verify,
    "check": cmd_check,
    "plan": cmd_plan,
}


def main(argv: t.Optional[t.Sequence[str]] = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    # the seed's usage: 's3napback < FILE', optionally with -t/-f/-d and no command
    if not arguments or (arguments[0].startswith("-") and arguments[0] not in ("-h", "--help", "--version")):
        arguments.insert(0, "backup")
    # everything imported so far lives as long as the process: keep the garbage collector off it
    gc.freeze()
    args = build_parser().parse_args(arguments)
    setup_logging(args.debug)
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        config = load_config(args.config)
        setup_logging(args.debug, config, syslog=getattr(args, "syslog", False))
        return HANDLERS[args.command](args, config)
    except S3napbackError as exc:
        say(f"s3napback: error: {exc}", sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        say(f"s3napback: {stop_reason(exc)}; nothing was committed by the interrupted step", sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except Exception as exc:  # a bug: still one line, the traceback only with -d
        if args.debug:
            traceback.print_exc()
        say(f"s3napback: internal error: {type(exc).__name__}: {exc} (run with -d for details)", sys.stderr)
        return 70


def run_and_exit() -> t.NoReturn:
    """The command's entry point: run it, then end the process at once.

    Tearing down an interpreter that holds boto3 takes about 70 ms of one core and changes nothing: by then
    every child was waited for and every upload is over or abandoned, so once the log handlers and the
    standard streams are flushed the process ends with os._exit. Under a tracer or profiler (coverage,
    cProfile), whose results are written at exit, it ends normally.
    """
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with that descriptor closed
            continue
        try:
            _guarded(stream, stream.flush)
        except ValueError:  # closed already: nothing left to write
            pass
        except OutputError as exc:  # a full disk under `list --json > FILE`: the output is incomplete
            if code == 0:
                code = exc.exit_code
                say(f"s3napback: error: {exc}", sys.stderr)
    if sys.gettrace() is not None or sys.getprofile() is not None:
        raise SystemExit(code)
    os._exit(code)
