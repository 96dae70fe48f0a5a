# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prometheus metrics in the text format, for node exporter's textfile collector (``MetricsFile``).

The file is written to a temporary name beside it and renamed, so the collector never reads half a file.
Sets this run did not touch (``--set``, or a run that failed before reaching them) keep their lines from
the previous file, so an alert on ``s3napback_set_last_backup_timestamp_seconds`` sees every set.
"""

from __future__ import annotations

import datetime
import os
import re
import tempfile
import typing as t

if t.TYPE_CHECKING:  # pragma: no cover
    from .backup import SetResult

HELP = {
    "s3napback_run_success": ("gauge", "1 when the last run of s3napback on this host succeeded for every set."),
    "s3napback_run_timestamp_seconds": ("gauge", "When the last run ended (Unix time)."),
    "s3napback_set_last_run_success": ("gauge", "1 when the set's last run succeeded (made or skipped a backup)."),
    "s3napback_set_last_run_timestamp_seconds": ("gauge", "When the set's last run ended (Unix time)."),
    "s3napback_set_last_backup_timestamp_seconds": (
        "gauge",
        "When the set's newest committed backup finished (Unix time): alert when it gets old.",
    ),
    "s3napback_set_last_run_duration_seconds": ("gauge", "How long the set's last run took."),
    "s3napback_set_last_run_bytes_read": ("gauge", "Bytes the set's last run read from the source."),
    "s3napback_set_last_run_bytes_uploaded": ("gauge", "Bytes the set's last run stored in S3."),
    "s3napback_set_last_run_chunks": ("gauge", "Chunks the set's last run uploaded."),
    "s3napback_set_restorable_backups": ("gauge", "Backups of the set that can be restored after the last run."),
}
_SAMPLE = re.compile(r'^(s3napback_set_\w+)\{host="(?:[^"\\]|\\.)*",set="((?:[^"\\]|\\.)*)"\} (\S+)$')


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def _unix(iso: t.Optional[str]) -> t.Optional[float]:
    if not iso:
        return None
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def set_samples(result: SetResult, ended: float) -> t.Dict[str, t.Optional[float]]:
    ok = result.action != "FAILED"
    return {
        "s3napback_set_last_run_success": 1.0 if ok else 0.0,
        "s3napback_set_last_run_timestamp_seconds": ended,
        "s3napback_set_last_backup_timestamp_seconds": _unix(result.newest_finished),
        "s3napback_set_last_run_duration_seconds": result.seconds,
        "s3napback_set_last_run_bytes_read": float(result.bytes_read),
        "s3napback_set_last_run_bytes_uploaded": float(result.bytes_uploaded),
        "s3napback_set_last_run_chunks": float(result.chunks),
        "s3napback_set_restorable_backups": float(len(result.after["restorable"])) if result.after else None,
    }


def render(
    host: str,
    results: t.Sequence[SetResult],
    ok: bool,
    ended: float,
    previous: str = "",
    configured: t.Optional[t.Sequence[str]] = None,
    folders: t.Sequence[str] = (),
) -> str:
    """The file's text. Sets of ``previous`` this run did not reach are carried over while ``configured`` (when
    given) still names them, or one of ``folders`` holds them (a SubversionDir's repositories): a set taken out
    of the config must not keep an alert on its age firing for ever."""
    samples: t.Dict[str, t.List[str]] = {name: [] for name in HELP}
    labels = f'host="{_label(host)}"'
    samples["s3napback_run_success"].append(f"{{{labels}}} {1 if ok else 0}")
    samples["s3napback_run_timestamp_seconds"].append(f"{{{labels}}} {_number(ended)}")
    ran = {_label(r.set) for r in results}
    before: t.Dict[t.Tuple[str, str], str] = {}
    for line in previous.splitlines():
        match = _SAMPLE.match(line)
        if match and match.group(1) in samples:
            before[(match.group(1), match.group(2))] = line[len(match.group(1)) :]
    kept = None if configured is None else {_label(n) for n in configured}
    holders = [_label(n) + "/" for n in folders]
    for (name, set_label), sample in before.items():  # carry over the sets this run did not reach
        still = kept is None or set_label in kept or any(set_label.startswith(h) for h in holders)
        if set_label not in ran and still:
            samples[name].append(sample)
    for result in results:
        for name, value in set_samples(result, ended).items():
            if value is not None:
                samples[name].append(f'{{{labels},set="{_label(result.set)}"}} {_number(value)}')
            elif result.action == "FAILED" and (name, _label(result.set)) in before:
                # what a failed run could not learn stays as it was, so an alert on the backup's age still fires
                samples[name].append(before[(name, _label(result.set))])
    lines = []
    for name, (kind, text) in HELP.items():
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [name + sample for sample in samples[name]]
    return "\n".join(lines) + "\n"


def write(
    path: str,
    host: str,
    results: t.Sequence[SetResult],
    ok: bool,
    ended: float,
    configured: t.Optional[t.Sequence[str]] = None,
    folders: t.Sequence[str] = (),
) -> None:
    """Write the metrics file atomically (OSError when the folder is not writable)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:  # damaged: its lines are dropped below
            previous = handle.read()
    except OSError:
        previous = ""
    text = render(host, results, ok, ended, previous, configured, folders)
    folder = os.path.dirname(path) or "."
    fd, temporary = tempfile.mkstemp(prefix=".s3napback-metrics-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)  # the exporter runs as another user
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
