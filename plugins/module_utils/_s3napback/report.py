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
        if self.config.heartbeat_url:
            heartbeat.ping(self.config.heartbeat_url, "start", f"s3napback on {self.config.host_name} started")

    def finish(self, results: t.Sequence[SetResult], error: t.Optional[str] = None) -> None:
        ended = time.time()
        failed = [r for r in results if r.action == "FAILED"]
        ok = error is None and not failed
        subject, body = self.summary(results, error, ok, ended)
        log.info("run %s: %s", "succeeded" if ok else "FAILED", subject)
        if self.config.metrics_file:
            try:
                metrics.write(self.config.metrics_file, self.config.host_name, results, ok, ended)
            except OSError as exc:
                log.warning("could not write MetricsFile %s: %s", self.config.metrics_file, exc.strerror)
        if self.config.heartbeat_url:
            heartbeat.ping(self.config.heartbeat_url, "success" if ok else "failure", f"{subject}\n\n{body}")
        if self.config.notify_email and (self.config.notify_on == "always" or not ok):
            try:
                mail.send(self.config, mail.compose(self.config, subject, body))
            except S3napbackError as exc:
                log.warning("could not send the report mail to %s: %s", ", ".join(self.config.notify_email), exc)

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
