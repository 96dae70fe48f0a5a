# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Chains of real tools (tar, zstd, gpg, ...) joined by pipes, with every exit status checked.

This lives in module_utils rather than in a module because Ansible modules may not use Popen directly;
the heavy lifting is done by the tools themselves, Python only connects them and moves chunk boundaries.
No shell is involved: every stage is an argv list, so nothing is ever re-parsed.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import threading
import typing as t
from dataclasses import dataclass, field

from .errors import PipelineError

STDERR_TAIL = 2000  # characters of a failing tool's stderr kept for its error message
PIPE_SIZE = 1 << 20  # the most an unprivileged process may ask for (fs.pipe-max-size's default)
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Python < 3.10 lacks the name, Linux has the call


def enlarge_pipe(handle: t.Optional[t.IO[bytes]]) -> None:
    """Give a pipe 1 MiB instead of 64 KiB: 16 times fewer wake-ups and system calls for every stage.

    Best effort: where the call is refused (another OS, a lower limit) the default size only costs CPU.
    """
    if handle is None:
        return
    try:
        fcntl.fcntl(handle.fileno(), _F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass


@dataclass
class Stage:
    name: str
    argv: t.List[str]
    ok_codes: t.Tuple[int, ...] = (0,)
    warn_codes: t.Tuple[int, ...] = ()  # exit codes that mean "done, with a warning" (tar's 1)
    pass_fds: t.Tuple[int, ...] = ()  # descriptors the tool writes to besides stdout (tar's member index)
    quiet: t.Tuple[bytes, ...] = ()  # stderr lines ending so are chatter, not causes (tar -v's "Directory is new")
    cwd: t.Optional[str] = None  # the tool's working directory (default: ours)
    process: t.Optional[subprocess.Popen] = None
    stderr_tail: str = ""
    _reader: t.Optional[threading.Thread] = field(default=None, repr=False)

    def describe_failure(self, code: int) -> str:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        detail = " ".join(self.stderr_tail.split())
        return f"{self.name} {how}" + (f": {detail[-400:]}" if detail else "")


def _drain_stderr(stage: Stage) -> None:
    stream = t.cast(t.IO[bytes], t.cast(subprocess.Popen, stage.process).stderr)
    tail = b""
    for line in iter(stream.readline, b""):
        if stage.quiet and line.rstrip().endswith(stage.quiet):
            continue
        tail = (tail + line)[-STDERR_TAIL:]
    stage.stderr_tail = tail.decode("utf-8", "replace")


class Chain:
    """Processes started left to right, each reading the previous one's stdout."""

    def __init__(
        self,
        stages: t.Sequence[Stage],
        stdin: t.Union[int, t.IO[bytes], None],
        stdout: t.Union[int, t.IO[bytes], None],
        env: t.Optional[t.Mapping[str, str]] = None,
    ) -> None:
        self.stages = list(stages)
        previous: t.Union[int, t.IO[bytes], None] = stdin
        try:
            for position, stage in enumerate(self.stages):
                last = position == len(self.stages) - 1
                try:
                    stage.process = subprocess.Popen(  # noqa: S603 - argv lists, no shell
                        stage.argv,
                        stdin=previous,
                        stdout=stdout if last else subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        env=dict(env) if env is not None else None,
                        close_fds=True,
                        pass_fds=stage.pass_fds,
                        cwd=stage.cwd,
                    )
                except OSError as exc:
                    raise PipelineError(f"cannot start {stage.name} ({stage.argv[0]}): {exc.strerror}") from None
                if position == 0 and stdin == subprocess.PIPE:
                    enlarge_pipe(stage.process.stdin)
                enlarge_pipe(stage.process.stdout)
                # the parent must not keep the upstream pipe open, or the downstream never sees EOF
                upstream = self.stages[position - 1].process if position > 0 else None
                if upstream is not None and upstream.stdout is not None:
                    upstream.stdout.close()
                previous = stage.process.stdout if not last else None
                stage._reader = threading.Thread(target=_drain_stderr, args=(stage,), daemon=True)
                stage._reader.start()
        except BaseException:
            self.kill()
            raise

    @property
    def stdin(self) -> t.Optional[t.IO[bytes]]:
        first = self.stages[0].process
        return first.stdin if first is not None else None

    @property
    def stdout(self) -> t.Optional[t.IO[bytes]]:
        last = self.stages[-1].process
        return last.stdout if last is not None else None

    def kill(self) -> None:
        for stage in self.stages:
            if stage.process is not None and stage.process.poll() is None:
                try:
                    stage.process.kill()
                except OSError:
                    pass
        for stage in self.stages:
            if stage.process is not None:
                stage.process.wait()

    def wait(self) -> t.List[str]:
        """Wait for every stage; raise PipelineError naming the first one that failed, return warnings.

        The first failing stage upstream is the cause; later stages usually fail only because their input
        broke off, so the message names the most upstream failure. A stage killed by SIGPIPE only lost its
        reader: it is named only when nothing else failed.
        """
        warnings: t.List[str] = []
        failures: t.List[str] = []
        victims: t.List[str] = []
        for stage in self.stages:
            code = t.cast(subprocess.Popen, stage.process).wait()
            if stage._reader is not None:
                stage._reader.join()
            if code in stage.ok_codes:
                continue
            if code in stage.warn_codes:
                warnings.append(stage.describe_failure(code))
            elif code == -signal.SIGPIPE:  # its reader went away: a consequence, not the cause
                victims.append(stage.describe_failure(code))
            else:
                failures.append(stage.describe_failure(code))
        if failures or victims:
            raise PipelineError((failures or victims)[0])
        return warnings


def close_quietly(handle: t.Optional[t.IO[bytes]]) -> None:
    if handle is None:
        return
    try:
        handle.close()
    except OSError:
        pass


def write_all(fd: int, data: t.Union[bytes, memoryview]) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
