# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A progress line on an interactive terminal: bytes read and uploaded, and the rate."""

from __future__ import annotations

import sys
import threading
import time
import typing as t


def human(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"  # pragma: no cover


class ProgressLine:
    """Redraws one line on stderr twice a second until stopped; silent when stderr is not a terminal."""

    def __init__(self, label: str, progress: t.Any, stream: t.TextIO = sys.stderr) -> None:
        self.label = label
        self.progress = progress
        self.stream = stream
        self.started = time.monotonic()
        self.done = threading.Event()
        self.enabled = stream.isatty()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        if self.enabled:
            self.thread.start()

    def render(self) -> str:
        elapsed = max(time.monotonic() - self.started, 0.001)
        read = self.progress.bytes_read
        uploaded = getattr(self.progress, "bytes_uploaded", 0)
        return (
            f"{self.label}: read {human(read)}, stored {human(uploaded)} "
            f"in {getattr(self.progress, 'chunks', 0)} chunks, {human(read / elapsed)}/s"
        )

    def _loop(self) -> None:
        while not self.done.wait(0.5):
            self.stream.write("\r\x1b[K" + self.render())
            self.stream.flush()

    def stop(self) -> None:
        if self.enabled:
            self.done.set()
            self.thread.join()
            self.stream.write("\r\x1b[K")
            self.stream.flush()
