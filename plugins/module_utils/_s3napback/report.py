# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Telling someone what a run did: one line per set, and at the end of a real run the report mail
(``NotifyEmail``), the heartbeat (``HeartbeatUrl``) and the metrics file (``MetricsFile``).

None of these can fail the backup: each failure is logged as a warning and the run's result stands.
"""

from __future__ import annotations

import datetime
import logging
import time
import typing as t

from . import __version__, heartbeat, mail, metrics
from .errors import S3napbackError
from .progress import human

if t.TYPE_CHECKING:  # pragma: no cover
    from .backup import SetResult
    from .config import Config

log = logging.getLogger(__name__)


def describe(result: SetResult) -> str:
    """One line for a set's result, as the command prints it and the mail lists it."""
    if result.action == "FAILED":
        return f"{result.set}: FAILED: {result.error}"
    if result.action == "SKIP":
        return f"{result.set}: skipped: {result.reason}"
    if result.test:
        line = f"{result.set}: would make a {result.action} in slot {result.slot} ({result.reason})"
        if result.retired:
            line += f"; would retire {', '.join(result.retired)}"
        if result.locked:
            line += f"; {', '.join(result.locked)} would stay, locked"
        return line
    line = (
        f"{result.set}: {result.action} {result.backup_id} in slot {result.slot}: read {human(result.bytes_read)}, "
        f"stored {human(result.bytes_uploaded)} in {result.chunks} chunks, {result.seconds:.1f} s"
    )
    if result.retired:
        line += f"; retired {', '.join(result.retired)}"
    if result.locked:
        line += f"; kept {', '.join(result.locked)} (locked until later)"
    return line


def _utc(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class RunReport:
    """Started when a real (not test) run starts; ``finish`` sends what the config asks for."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.started = time.time()

    def start(self) -> None:
        url, said = self.config.heartbeat_url, f"s3napback on {self.config.host_name} started"
        if url:
            _deliver("ping the heartbeat", lambda: heartbeat.ping(url, "start", said))

    def finish(self, results: t.Sequence[SetResult], error: t.Optional[str] = None) -> None:
        ended = time.time()
        failed = [r for r in results if r.action == "FAILED"]
        ok = error is None and not failed
        subject, body = self.summary(results, error, ok, ended)
        if ok:
            log.info("run succeeded: %s", subject)
        else:  # at ERROR, so a LogFile or syslog at LogLevel error hears of it too (the terminal has had it)
            log.error("run FAILED: %s", subject, extra={"logs_only": True})
        config = self.config
        if config.metrics_file:
            path = config.metrics_file
            names = [s.name for s in config.sets]
            folders = [s.name for s in config.sets if s.kind == "subversiondir"]
            _deliver(
                f"write MetricsFile {path}",
                lambda: metrics.write(path, config.host_name, results, ok, ended, names, folders),
            )
        if config.heartbeat_url:
            url, event = config.heartbeat_url, "success" if ok else "failure"
            _deliver("ping the heartbeat", lambda: heartbeat.ping(url, event, f"{subject}\n\n{body}"))
        if config.notify_email and (config.notify_on == "always" or not ok):
            where = ", ".join(config.notify_email)
            _deliver(f"send the report mail to {where}", lambda: mail.send(config, mail.compose(config, subject, body)))

    def summary(
        self, results: t.Sequence[SetResult], error: t.Optional[str], ok: bool, ended: float
    ) -> t.Tuple[str, str]:
        """The mail's subject and body (also the heartbeat's body)."""
        host = self.config.host_name
        made = sum(1 for r in results if r.action in ("FULL", "DIFF"))
        skipped = sum(1 for r in results if r.action == "SKIP")
        failed = [r for r in results if r.action == "FAILED"]
        if error is not None:
            subject = f"s3napback on {host}: FAILED: {error}"
        else:
            state = "OK" if ok else f"FAILED ({len(failed)} of {len(results)} sets)"
            subject = f"s3napback on {host}: {state}: {made} made, {skipped} skipped, {len(failed)} failed"
        lines = [
            f"s3napback {__version__} on {host}, from {_utc(self.started)} to {_utc(ended)}"
            f" ({ended - self.started:.0f} s): {'OK' if ok else 'FAILED'}",
            "",
        ]
        if error is not None:
            when = "did not finish" if results else "failed before backing up its sets"
            lines += [f"The run {when}: {error}", ""]
        lines += [describe(r) for r in results]
        problems = [f"- {r.set}: {r.error}" for r in failed]
        if problems:
            lines += ["", "Errors:", *problems]
        warnings = [f"- {r.set}: {w}" for r in results for w in r.warnings]
        if warnings:
            lines += ["", "Warnings:", *warnings]
        kept = [
            f"- {r.set}: {len(r.after['restorable'])} (oldest {r.after['restorable'][0]})"
            for r in results
            if r.after and r.after["restorable"]
        ]
        if kept:
            lines += ["", "Restorable moments after the run:", *kept]
        return subject, "\n".join(lines) + "\n"


def _deliver(what: str, send: t.Callable[[], object]) -> None:
    """One report channel: whatever goes wrong in it is a warning, never the backup's failure."""
    try:
        send()
    except S3napbackError as exc:
        log.warning("could not %s: %s", what, exc)
    except OSError as exc:
        log.warning("could not %s: %s", what, exc.strerror or exc)
    except Exception as exc:  # an odd value met somewhere deep; its text may quote a secret, so only its kind
        log.warning("could not %s: %s", what, type(exc).__name__)
