# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""s3napback benchmark: full backup, incremental and restore against a local S3 server, next to the plain
``tar | zstd -3 -T0 | gpg > /dev/null`` pipeline on the same data (see bench/README.md).

    python3 bench/run.py [--size-mib 1024] [--rounds 3] [--workdir DIR] [--chunk-size 64M] [--parallel 4] [--keep]

Every round runs, in this order: the baseline pipeline, our FULL, a deterministic change of about 1% of the
files, our DIFF, our restore (and the baseline's restore), then puts the dataset back. Each operation runs as
a child process in its own process group; wall time is a monotonic delta, CPU seconds are the delta of
getrusage(RUSAGE_CHILDREN) (every waited-for descendant), disk writes the delta of this process's
/proc/self/io write_bytes (which includes the reaped descendants'), and a sampler thread sums the RSS of the
child's process tree every 20 ms for the peak. The S3 server is not part of the tree: its CPU is reported on
its own, for the physical bound (our CPU + server CPU) / cores.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import re
import resource
import secrets
import shutil
import signal
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from dataclasses import asdict, dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENGINE_PATH = os.path.join(ROOT, "plugins", "module_utils")
sys.path.insert(0, os.path.join(ROOT, "tests"))

from support.configs import write_config  # noqa: E402 (tests/ is put on the path just above)
from support.gpgkeys import KeyPair, kill_agent, make_keypair  # noqa: E402
from support.s3server import S3Server, start_seaweedfs  # noqa: E402

KIB = 1024
MIB = 1024 * KIB
DATASET_VERSION = 1
SEED = 20240104
EMAIL = "bench@s3napback.invalid"
# 2024-01-04 is epoch day 19726, a multiple of 7: with Frequency 1 and Diffs 7 it starts a cycle, so the
# first run is the FULL and the next day's run a DIFF in the same cycle.
DAY_FULL = "2024-01-04"
DAY_DIFF = "2024-01-05"
SAMPLE_INTERVAL = 0.02
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
TARGET_WALL = 1.6
TARGET_CPU = 1.15
RSS_SLACK_MIB = 100
DISK_SLACK = 64 * KIB  # page-granular accounting and file-system metadata; the target is "nothing but the snapshot"

OPERATIONS = ("baseline", "full", "incremental", "restore", "baseline-restore")


# -- the dataset ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileSpec:
    path: str  # relative to the dataset folder
    kind: str  # small, medium-log, medium-text, large, random
    size: int
    seed: int


class TextSource:
    """Pools of pseudo-words, text lines and log lines that every compressible file draws from.

    The log pool (about 8 MB) is larger than zstd -3's window, so log files compress like real logs (a few
    times), not like one block repeated.
    """

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"words-{seed}")
        letters = string.ascii_lowercase
        words = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _word in range(3000)]
        self.text = [" ".join(rng.choices(words, k=rng.randint(3, 16))) + "\n" for _line in range(20000)]
        levels = ["INFO"] * 6 + ["DEBUG"] * 3 + ["WARN", "ERROR"]
        services = ["api", "worker", "db", "cache", "auth", "cron", "mailer", "proxy"]
        self.log = [
            f"2024-01-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
            f"{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z {rng.choice(levels)} host-{rng.randint(1, 16)} "
            f"{rng.choice(services)}[{rng.randint(100, 65000)}]: {' '.join(rng.choices(words, k=rng.randint(4, 14)))}"
            f" id={rng.getrandbits(64):016x} took={rng.randint(0, 5000)}ms\n"
            for _entry in range(60000)
        ]
        self.avg = {"text": _average(self.text), "log": _average(self.log)}


def _average(lines: t.Sequence[str]) -> int:
    return max(1, sum(len(line) for line in lines) // len(lines))


def plan_dataset(size_mib: int, seed: int) -> t.List[FileSpec]:
    """The dataset's files: ~8.5% small text files, ~29% medium logs/text, ~47% large logs, ~15% random."""
    rng = random.Random(f"plan-{seed}")
    total = size_mib * MIB
    scale = min(1.0, size_mib / 1024)
    specs: t.List[FileSpec] = []

    def seed_of() -> int:
        return rng.getrandbits(63)

    n_small = max(50, round(20000 * size_mib / 1024))
    for i in range(n_small):
        path = f"src/pkg{i // 1000:02d}/mod{i // 100 % 10}/file{i:05d}.txt"
        specs.append(FileSpec(path, "small", rng.randint(1 * KIB, 8 * KIB), seed_of()))
    small_total = sum(s.size for s in specs)

    def fill(budget: int, low: int, high: int, make: t.Callable[[int, int], FileSpec]) -> int:
        used = index = 0
        while budget - used >= max(low // 2, 4 * KIB):
            size = min(rng.randint(low, high), budget - used)
            specs.append(make(index, size))
            used += size
            index += 1
        return used

    medium = fill(
        int(total * 0.29),
        100 * KIB,
        5 * MIB,
        lambda i, size: FileSpec(
            f"logs/app{i:03d}.log" if i % 3 else f"docs/doc{i:03d}.txt",
            "medium-log" if i % 3 else "medium-text",
            size,
            seed_of(),
        ),
    )
    large_low, large_high = max(MIB, int(50 * MIB * scale)), max(2 * MIB, int(150 * MIB * scale))
    large = fill(
        int(total * 0.47),
        large_low,
        large_high,
        lambda i, size: FileSpec(f"data/big{i:02d}.log", "large", size, seed_of()),
    )
    random_budget = max(MIB, total - small_total - medium - large)
    archive = int(random_budget * 0.4)
    specs.append(FileSpec("data/archive.bin", "random", archive, seed_of()))
    fill(
        random_budget - archive,
        256 * KIB,
        8 * MIB,
        lambda i, size: FileSpec(f"media/img{i:03d}.jpg", "random", size, seed_of()),
    )
    return specs


def file_pieces(spec: FileSpec, source: TextSource, piece: int = 8 * MIB) -> t.Iterator[bytes]:
    """The content of ``spec``, a function of its seed only, in pieces of about ``piece`` bytes."""
    rng = random.Random(spec.seed)
    left = spec.size
    if spec.kind == "random":
        while left > 0:
            n = min(piece, left)
            yield rng.randbytes(n)
            left -= n
        return
    pool, avg = (
        (source.text, source.avg["text"]) if spec.kind in ("small", "medium-text") else (source.log, source.avg["log"])
    )
    while left > 0:
        n = min(piece, left)
        data = "".join(rng.choices(pool, k=n // avg + 8)).encode()
        while len(data) < n:
            data += "".join(rng.choices(pool, k=64)).encode()
        yield data[:n]
        left -= n


def write_file(root: str, spec: FileSpec, source: TextSource, mode: str = "wb") -> None:
    path = os.path.join(root, spec.path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as handle:
        for data in file_pieces(spec, source):
            handle.write(data)


@dataclass
class Mutation:
    """About 1% of the files: small files rewritten, a few deleted, new ones added, some logs appended to."""

    rewritten: t.List[FileSpec]
    deleted: t.List[FileSpec]
    added: t.List[FileSpec]
    appended: t.List[t.Tuple[FileSpec, FileSpec]]  # (the file, what is appended)

    @property
    def count(self) -> int:
        return len(self.rewritten) + len(self.deleted) + len(self.added) + len(self.appended)


def plan_mutation(specs: t.Sequence[FileSpec], seed: int) -> Mutation:
    rng = random.Random(f"mutate-{seed}")
    target = max(4, round(len(specs) / 100))
    small = [s for s in specs if s.kind == "small"]
    logs = [s for s in specs if s.kind == "medium-log"] or [s for s in specs if s.kind.startswith("medium")]
    picked = rng.sample(small, k=min(len(small), int(target * 0.6) + int(target * 0.1) + 1))
    n_rewrite = int(target * 0.6)
    rewritten = [
        FileSpec(s.path, s.kind, rng.randint(1 * KIB, 8 * KIB), rng.getrandbits(63)) for s in picked[:n_rewrite]
    ]
    deleted = picked[n_rewrite:]
    added = [
        FileSpec(f"src/new/file{i:04d}.txt", "small", rng.randint(1 * KIB, 8 * KIB), rng.getrandbits(63))
        for i in range(max(1, int(target * 0.3) - 3))
    ]
    appended = [
        (s, FileSpec(s.path, "medium-log", max(4 * KIB, s.size // 10), rng.getrandbits(63)))
        for s in rng.sample(logs, k=min(len(logs), 3))
    ]
    return Mutation(rewritten, deleted, added, appended)


class Dataset:
    """The benchmark's data in ``workdir/dataset``, made once and reused while ``dataset.json`` matches."""

    def __init__(self, workdir: str, size_mib: int, seed: int = SEED) -> None:
        self.root = os.path.join(workdir, "dataset")
        self.marker = os.path.join(workdir, "dataset.json")
        self.params = {"version": DATASET_VERSION, "size_mib": size_mib, "seed": seed}
        self.specs = plan_dataset(size_mib, seed)
        self.mutation = plan_mutation(self.specs, seed)
        self.bytes = sum(s.size for s in self.specs)
        self._source: t.Optional[TextSource] = None
        self.mutated = False

    @property
    def source(self) -> TextSource:
        if self._source is None:
            self._source = TextSource(self.params["seed"])
        return self._source

    def _read_marker(self) -> t.Dict[str, t.Any]:
        try:
            with open(self.marker, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    def _write_marker(self, state: str) -> None:
        data = dict(self.params, state=state, files=len(self.specs), bytes=self.bytes)
        with open(self.marker + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        os.replace(self.marker + ".tmp", self.marker)

    def ensure(self) -> str:
        """Make the dataset unless it is there; put it back if a run was interrupted while it was changed."""
        marker = self._read_marker()
        if {k: marker.get(k) for k in self.params} == self.params and os.path.isdir(self.root):
            if marker.get("state") != "clean":
                print("dataset: putting back the files a previous run changed", flush=True)
                self.revert()
            return "reused"
        started = time.monotonic()
        print(f"dataset: making {self.bytes / MIB:.0f} MiB in {len(self.specs)} files under {self.root}", flush=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.marker)
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.root)
        for spec in self.specs:
            write_file(self.root, spec, self.source)
        os.sync()
        self._write_marker("clean")
        print(f"dataset: made in {time.monotonic() - started:.1f} s", flush=True)
        return "made"

    def mutate(self) -> None:
        self._write_marker("mutated")
        self.mutated = True
        m = self.mutation
        for spec in m.rewritten + m.added:
            write_file(self.root, spec, self.source)
        for spec in m.deleted:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.root, spec.path))
        for _spec, extra in m.appended:
            write_file(self.root, extra, self.source, mode="ab")
        self.prime()

    def revert(self) -> None:
        by_path = {s.path: s for s in self.specs}
        m = self.mutation
        for spec in m.added:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.root, spec.path))
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(self.root, "src", "new"))
        for path in [s.path for s in m.rewritten + m.deleted] + [s.path for s, _extra in m.appended]:
            write_file(self.root, by_path[path], self.source)
        self._write_marker("clean")
        self.mutated = False
        self.prime()

    def prime(self) -> None:
        """Read a byte of every file the change touched, and list their folders, so that the access-time updates
        of a changed file's first read (relatime) are written now and not counted as the next operation's."""
        m = self.mutation
        paths = {s.path for s in m.rewritten + m.added + m.deleted} | {s.path for s, _extra in m.appended}
        for folder in sorted({os.path.dirname(os.path.join(self.root, p)) for p in paths}):
            with contextlib.suppress(OSError):
                os.listdir(folder)
        for path in sorted(paths):
            with contextlib.suppress(OSError), open(os.path.join(self.root, path), "rb") as handle:
                handle.read(1)

    def changed_bytes(self) -> int:
        m = self.mutation
        return sum(s.size for s in m.rewritten + m.added) + sum(extra.size for _spec, extra in m.appended)

    def describe(self) -> t.Dict[str, t.Any]:
        kinds: t.Dict[str, t.List[int]] = {}
        for spec in self.specs:
            kinds.setdefault(spec.kind, []).append(spec.size)
        return {
            "files": len(self.specs),
            "bytes": self.bytes,
            "kinds": {k: {"files": len(v), "bytes": sum(v)} for k, v in sorted(kinds.items())},
            "mutation": {
                "files": self.mutation.count,
                "rewritten": len(self.mutation.rewritten),
                "deleted": len(self.mutation.deleted),
                "added": len(self.mutation.added),
                "appended": len(self.mutation.appended),
                "bytes": self.changed_bytes(),
            },
        }


# -- measuring -----------------------------------------------------------------------------------------------
def read_stat(pid: int) -> t.Optional[t.Tuple[str, int, int]]:
    """(comm, ppid, utime+stime ticks) of ``pid``, None when it is gone."""
    stat = read_stat_fields(pid)
    return None if stat is None else stat[:3]


def read_stat_fields(pid: int) -> t.Optional[t.Tuple[str, int, int, t.Tuple[int, ...]]]:
    """read_stat's fields and the address space's layout (startcode, endcode, startstack).

    A child between fork (or vfork) and exec has its parent's layout, and its pages are its parent's: its RSS
    must not be counted a second time. After exec the layout is the new program's (and randomized).
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    left, right = raw.find("("), raw.rfind(")")
    fields = raw[right + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, startcode 26, endcode 27, startstack 28
    layout = tuple(int(value) for value in fields[23:26])
    return raw[left + 1 : right], int(fields[1]), int(fields[11]) + int(fields[12]), layout


def read_rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def read_write_bytes(pid: int) -> int:
    """write_bytes - cancelled_write_bytes of ``pid`` (and of the children it has reaped)."""
    written = cancelled = 0
    try:
        with open(f"/proc/{pid}/io", "rb") as handle:
            for line in handle:
                if line.startswith(b"write_bytes:"):
                    written = int(line.split()[1])
                elif line.startswith(b"cancelled_write_bytes:"):
                    cancelled = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return max(0, written - cancelled)


def read_cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def self_io() -> t.Tuple[int, int]:
    """(write_bytes, cancelled_write_bytes) of this process, which include every reaped descendant's: the kernel
    adds a child's I/O counts to its parent's when the parent waits for it. Cancelled bytes were written to files
    deleted or truncated before they reached the disk (gpg's lock files, for one)."""
    values = {}
    with open("/proc/self/io", encoding="ascii") as handle:
        for line in handle:
            name, _sep, value = line.partition(":")
            values[name] = int(value)
    return values.get("write_bytes", 0), values.get("cancelled_write_bytes", 0)


def cpu_seconds(pid: t.Optional[int]) -> float:
    stat = read_stat(pid) if pid else None
    return stat[2] / CLK_TCK if stat else 0.0


def group_name(comm: str) -> str:
    if comm.startswith("python"):
        return "python"
    if comm.startswith("s3napback-"):  # a thread name leaking into comm
        return "python"
    return comm


class Sampler(threading.Thread):
    """Every 20 ms: find the descendants of ``root`` (and gpg-agents of our homes, which daemonize away from
    the tree), sum their RSS for the peak, and remember each one's CPU ticks for a per-program breakdown."""

    def __init__(self, agent_tag: str) -> None:
        super().__init__(daemon=True, name="bench-sampler")
        # taken before the child starts, so that nothing it starts can be mistaken for an older process
        self.preexisting = {int(p) for p in os.listdir("/proc") if p.isdigit()}
        self.root = 0
        self.agent_tag = agent_tag
        self.tree: t.Set[int] = set()
        self.agents: t.Set[int] = set()
        self.classified: t.Dict[int, bool] = {}
        self.ticks: t.Dict[int, t.Tuple[str, int]] = {}
        self.writes: t.Dict[int, t.Tuple[str, int]] = {}
        self.peak_rss = 0
        self.peak_detail: t.Dict[str, int] = {}
        self.samples = 0
        self.halt = threading.Event()

    def watch(self, root: int) -> None:
        self.root = root
        self.tree.add(root)
        self.preexisting.discard(root)
        self.start()

    def run(self) -> None:
        while True:
            self.sample()
            if self.halt.wait(SAMPLE_INTERVAL):
                break

    def stop(self) -> None:
        self.halt.set()
        self.join()

    def sample(self) -> None:
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        for pid in pids:
            if pid in self.classified or pid in self.preexisting:
                continue
            stat = read_stat(pid)
            if stat is None:
                continue
            comm, ppid, _ticks = stat
            inside = pid == self.root or ppid in self.tree
            if not inside and comm == "gpg-agent" and self.agent_tag in read_cmdline(pid):
                inside = True
                self.agents.add(pid)
            self.classified[pid] = inside
            if inside:
                self.tree.add(pid)
        # one entry per address space: a child that has not yet exec'd shares its parent's pages
        spaces: t.Dict[t.Tuple[int, ...], t.Tuple[str, int]] = {}
        for pid in list(self.tree):
            stat = read_stat_fields(pid)
            if stat is None:
                continue
            comm = group_name(stat[0])
            self.ticks[pid] = (comm, stat[2])
            self.writes[pid] = (comm, read_write_bytes(pid))
            rss = read_rss(pid)
            space = stat[3] if any(stat[3]) else (-pid,)
            if rss >= spaces.get(space, ("", -1))[1]:
                spaces[space] = (comm, rss)
        total = 0
        detail: t.Dict[str, int] = {}
        for comm, rss in spaces.values():
            total += rss
            detail[comm] = detail.get(comm, 0) + rss
        self.samples += 1
        if total > self.peak_rss:
            self.peak_rss = total
            self.peak_detail = detail

    def agent_cpu(self) -> float:
        """CPU seconds of the gpg-agents that joined during the operation (read now: they are still running)."""
        total = 0.0
        for pid in self.agents:
            stat = read_stat(pid)
            if stat is not None:
                self.ticks[pid] = ("gpg-agent", stat[2])
                total += stat[2] / CLK_TCK
        return total

    def writes_by_program(self) -> t.Dict[str, int]:
        out: t.Dict[str, int] = {}
        for comm, count in self.writes.values():
            if count:
                out[comm] = out.get(comm, 0) + count
        return out

    def cpu_by_program(self) -> t.Dict[str, float]:
        out: t.Dict[str, float] = {}
        for comm, ticks in self.ticks.values():
            out[comm] = out.get(comm, 0.0) + ticks / CLK_TCK
        return out


@dataclass
class Measurement:
    op: str
    round: int
    wall: float
    cpu: float
    peak_rss: int
    disk_write: int
    server_cpu: float
    agent_cpu: float = 0.0
    max_single_rss: int = 0
    cpu_by_program: t.Dict[str, float] = field(default_factory=dict)
    rss_at_peak: t.Dict[str, int] = field(default_factory=dict)
    writes_by_program: t.Dict[str, int] = field(default_factory=dict)
    write_bytes: int = 0  # disk_write = write_bytes - cancelled_write_bytes
    cancelled_write_bytes: int = 0
    processes: int = 0
    samples: int = 0
    extra: t.Dict[str, t.Any] = field(default_factory=dict)


class OperationFailed(RuntimeError):
    pass


class Runner:
    def __init__(self, server_pid: t.Optional[int], agent_tag: str) -> None:
        self.server_pid = server_pid
        self.agent_tag = agent_tag
        self.current: t.Optional[subprocess.Popen] = None

    def measure(
        self, op: str, rnd: int, argv: t.List[str], env: t.Optional[t.Dict[str, str]] = None
    ) -> t.Tuple[Measurement, str]:
        """Run ``argv`` and measure it; return the measurement and its standard output."""
        sampler = Sampler(self.agent_tag)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        io_before = self_io()
        server_before = cpu_seconds(self.server_pid)
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.current = proc
        sampler.watch(proc.pid)
        try:
            out, err = proc.communicate()
        except BaseException:
            self.kill_current()  # its own session: a Ctrl-C at the terminal does not reach it
            raise
        finally:
            wall = time.monotonic() - started
            sampler.stop()
        self.current = None
        server_cpu = cpu_seconds(self.server_pid) - server_before
        agent_cpu = sampler.agent_cpu()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        io_after = self_io()
        written, cancelled = io_after[0] - io_before[0], io_after[1] - io_before[1]
        disk_write = max(0, written - cancelled)
        stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        if proc.returncode != 0:
            raise OperationFailed(
                f"{op} (round {rnd}) exited with {proc.returncode}: {' '.join(argv)}\n{stdout}\n{stderr}"
            )
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) + agent_cpu
        by_program = sampler.cpu_by_program()
        by_program["unattributed"] = max(0.0, cpu - sum(by_program.values()))
        measurement = Measurement(
            op=op,
            round=rnd,
            wall=wall,
            cpu=cpu,
            peak_rss=sampler.peak_rss,
            disk_write=disk_write,
            server_cpu=server_cpu,
            agent_cpu=agent_cpu,
            max_single_rss=after.ru_maxrss * KIB,
            cpu_by_program={k: round(v, 3) for k, v in sorted(by_program.items())},
            rss_at_peak=dict(sorted(sampler.peak_detail.items())),
            writes_by_program=dict(sorted(sampler.writes_by_program().items())),
            write_bytes=written,
            cancelled_write_bytes=cancelled,
            processes=len(sampler.tree),
            samples=sampler.samples,
        )
        if stderr.strip():
            measurement.extra["stderr"] = stderr[-2000:]
        return measurement, stdout

    def kill_current(self) -> None:
        proc = self.current
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.wait(timeout=10)


# -- the benchmark -------------------------------------------------------------------------------------------
def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a size such as 64M, got {text!r}")
    return int(match.group(1)) * {"": 1, "K": KIB, "M": MIB, "G": 1024 * MIB}[match.group(2).upper()]


def tool_versions() -> t.Dict[str, str]:
    out = {"python": platform.python_version()}
    for name, argv in (("tar", ["tar", "--version"]), ("zstd", ["zstd", "--version"]), ("gpg", ["gpg", "--version"])):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out[name] = subprocess.run(argv, capture_output=True, text=True, check=False).stdout.splitlines()[0]
    return out


def git_head() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        result = subprocess.run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        )
        dirty = subprocess.run(
            ["git", "-C", ROOT, "status", "--porcelain", "--", "plugins"], capture_output=True, text=True, check=False
        )
        return result.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    return "unknown"


def baseline_command(dataset_root: str, keys: KeyPair, output: str = "/dev/null") -> t.List[str]:
    source = dataset_root.lstrip("/")
    pipeline = (
        f"tar --create --file=- --format=posix -C / '{source}' | zstd -3 -T0 -q | "
        f"gpg --batch --trust-model always --compress-algo none -e -r '{keys.email}' --homedir '{keys.public_home}'"
        f" > '{output}'"
    )
    return ["bash", "-o", "pipefail", "-c", pipeline]


def baseline_restore_command(archive: str, destination: str, keys: KeyPair) -> t.List[str]:
    pipeline = (
        f"gpg --batch --quiet --homedir '{keys.private_home}' -d < '{archive}' | zstd -d -q | "
        f"tar --extract --file=- -C '{destination}'"
    )
    return ["bash", "-o", "pipefail", "-c", pipeline]


def parse_result(output: str) -> t.Dict[str, t.Any]:
    """The first set's result from ``backup --json``."""
    start = output.find("[")
    try:
        results = json.loads(output[start : output.rfind("]") + 1])
        return results[0]
    except (ValueError, IndexError):
        return {}


def make_empty(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)


def verify_restore(dataset: str, restored: str) -> str:
    result = subprocess.run(
        ["diff", "-r", "--no-dereference", "-q", dataset, restored], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise OperationFailed(
            f"the restored tree differs from the dataset:\n{result.stdout[-3000:]}{result.stderr[-1000:]}"
        )
    return "identical (diff -r)"


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = os.path.abspath(args.workdir)
        self.run_dir = ""
        self.server: t.Optional[S3Server] = None
        self.keys: t.Optional[KeyPair] = None
        self.runner: t.Optional[Runner] = None
        self.dataset: t.Optional[Dataset] = None
        self.baseline_archive = ""
        self.baseline_archive_bytes = 0
        self.results: t.List[Measurement] = []
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = ENGINE_PATH + (
            os.pathsep + self.env["PYTHONPATH"] if self.env.get("PYTHONPATH") else ""
        )

    # -- setup and teardown
    def setup(self) -> None:
        os.makedirs(self.workdir, exist_ok=True)
        self.dataset = Dataset(self.workdir, self.args.size_mib)
        self.dataset_state = self.dataset.ensure()
        self.run_dir = tempfile.mkdtemp(prefix="run-", dir=self.workdir)
        print(f"run folder: {self.run_dir}", flush=True)
        self.keys = make_keypair(self.run_dir, EMAIL)
        self.server = start_seaweedfs(os.path.join(self.run_dir, "s3"))
        print(f"S3 server: {self.server.endpoint} (pid {self.server.pid})", flush=True)
        self.key_file = os.path.join(self.run_dir, "s3key")
        with open(os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="ascii") as out:
            out.write(f"key={self.server.access_key}\nsecret={self.server.secret_key}\n")
        self.runner = Runner(self.server.pid, self.run_dir)
        # Hosts run the engine as compiled bytecode (the role compiles it when it installs it). Compile it here
        # too, before any measurement: with PYTHONDONTWRITEBYTECODE set, as on some machines, every measured run
        # would compile the engine's sources again (about 90 ms of CPU, single-threaded, before the data moves).
        # compileall writes the .pyc files whatever that variable says; __pycache__ is ignored by git.
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", os.path.join(ENGINE_PATH, "_s3napback")],
            env=self.env,
            capture_output=True,
            check=True,
        )

    def teardown(self) -> None:
        if self.runner is not None:
            self.runner.kill_current()
        if self.dataset is not None and self.dataset.mutated:
            print("putting the dataset back", flush=True)
            self.dataset.revert()
        if self.server is not None:
            print("stopping the S3 server", flush=True)
            self.server.stop(timeout=5)
        if self.keys is not None:
            self.keys.close(remove=False)
        if self.run_dir and not self.args.keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        elif self.run_dir:
            print(f"kept {self.run_dir}", flush=True)

    def kill_agents(self) -> None:
        assert self.keys is not None
        kill_agent(self.keys.private_home)
        kill_agent(self.keys.public_home)

    # -- one round
    def config_for(self, rnd: int) -> t.Tuple[str, str]:
        assert self.server is not None and self.keys is not None
        bucket = f"bench-r{rnd}-{secrets.token_hex(3)}"
        self.server.client().create_bucket(Bucket=bucket)
        diff_dir = os.path.join(self.run_dir, f"diff-r{rnd}")
        # A managed host has its DiffDir from the role before the first backup runs: creating it (28 KiB of
        # ext4 metadata, charged to whoever calls mkdir) is set-up, not a write of the backup.
        os.mkdir(diff_dir, 0o700)
        path = os.path.join(self.run_dir, f"r{rnd}.conf")
        write_config(
            path,
            bucket=bucket,
            endpoint=self.server.endpoint,
            key_file=self.key_file,
            diff_dir=diff_dir,
            directories=[self.dataset.root],
            recipient=self.keys.email,
            keyring=self.keys.public_home,
            host="bench-host",
            chunk_size=str(self.args.chunk_size),
            extra=f"Compression zstd 3\nParallel {self.args.parallel}",
        )
        return path, diff_dir

    def record(self, measurement: Measurement) -> None:
        self.results.append(measurement)
        m = measurement
        print(
            f"  round {m.round} {m.op:<16} wall {m.wall:7.2f} s  CPU {m.cpu:7.2f} s"
            f"  peak RSS {m.peak_rss / MIB:7.1f} MiB  disk writes {m.disk_write / MIB:8.2f} MiB"
            f"  server CPU {m.server_cpu:6.2f} s",
            flush=True,
        )

    def settle(self) -> None:
        """Between operations: flush dirty pages, so one operation's writeback does not land in the next."""
        os.sync()
        time.sleep(0.5)

    def engine(self, *args: str) -> t.List[str]:
        return [sys.executable, "-m", "_s3napback", *args]

    def round(self, rnd: int) -> None:
        assert self.runner is not None and self.keys is not None
        print(f"round {rnd}/{self.args.rounds}", flush=True)
        conf, diff_dir = self.config_for(rnd)
        self.kill_agents()
        self.settle()

        m, _out = self.runner.measure("baseline", rnd, baseline_command(self.dataset.root, self.keys), env=self.env)
        self.record(m)
        self.settle()

        m, out = self.runner.measure(
            "full", rnd, self.engine("backup", "-c", conf, "--date", DAY_FULL, "--json"), self.env
        )
        result = parse_result(out)
        if result.get("action") != "FULL":
            raise OperationFailed(f"the first backup was not a FULL: {out[-2000:]}")
        m.extra.update(self.backup_extra(result, diff_dir))
        self.record(m)

        self.dataset.mutate()
        self.settle()
        m, out = self.runner.measure(
            "incremental", rnd, self.engine("backup", "-c", conf, "--date", DAY_DIFF, "--json"), self.env
        )
        result = parse_result(out)
        if result.get("action") != "DIFF":
            raise OperationFailed(f"the second backup was not a DIFF: {out[-2000:]}")
        m.extra.update(self.backup_extra(result, diff_dir))
        self.record(m)

        destination = os.path.join(self.run_dir, "restore")
        make_empty(destination)
        self.kill_agents()
        self.settle()
        argv = self.engine(
            "restore",
            "-c",
            conf,
            "--set",
            self.dataset.root,
            "--to",
            destination,
            "--gnupghome",
            self.keys.private_home,
        )
        m, _out = self.runner.measure("restore", rnd, argv, self.env)
        if rnd == 1 or self.args.verify_every_round:
            m.extra["verified"] = verify_restore(
                self.dataset.root, os.path.join(destination, self.dataset.root.lstrip("/"))
            )
        self.record(m)
        shutil.rmtree(destination, ignore_errors=True)

        if self.baseline_archive:
            make_empty(destination)
            self.kill_agents()
            self.settle()
            argv = baseline_restore_command(self.baseline_archive, destination, self.keys)
            m, _out = self.runner.measure("baseline-restore", rnd, argv, self.env)
            self.record(m)
            shutil.rmtree(destination, ignore_errors=True)

        self.dataset.revert()
        self.kill_agents()

    def backup_extra(self, result: t.Dict[str, t.Any], diff_dir: str) -> t.Dict[str, t.Any]:
        snapshots = [os.path.join(diff_dir, n) for n in os.listdir(diff_dir) if n.endswith(".snar")]
        snapshot = sum(os.path.getsize(p) for p in snapshots)
        return {
            "bytes_read": result.get("bytes_read", 0),
            "bytes_uploaded": result.get("bytes_uploaded", 0),
            "chunks": result.get("chunks", 0),
            "engine_seconds": result.get("seconds"),
            "snapshot_bytes": snapshot,
        }

    def make_baseline_archive(self) -> None:
        """The baseline restore's input, made once (this also warms the page cache for round 1)."""
        assert self.keys is not None and self.runner is not None
        self.baseline_archive = ""
        if self.args.no_restore_baseline:
            print("warming the page cache", flush=True)
            subprocess.run(["tar", "-cf", "/dev/null", "-C", "/", self.dataset.root.lstrip("/")], check=True)
            return
        archive = os.path.join(self.run_dir, "baseline.tar.zst.gpg")
        print("making the baseline restore's archive (also warms the page cache)", flush=True)
        subprocess.run(baseline_command(self.dataset.root, self.keys, archive), check=True)
        self.baseline_archive = archive
        self.baseline_archive_bytes = os.path.getsize(archive)

    def run(self) -> int:
        started = datetime.datetime.now()
        load = os.getloadavg()
        self.setup()
        self.make_baseline_archive()
        for rnd in range(1, self.args.rounds + 1):
            self.round(rnd)
        report = Report(self, load, started)
        print()
        print(report.table())
        path = report.save()
        print(f"\nresults: {path}")
        return 0 if report.all_pass else 3


# -- the report ----------------------------------------------------------------------------------------------
def _med(values: t.Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Report:
    def __init__(self, bench: Bench, load: t.Tuple[float, float, float], started: datetime.datetime) -> None:
        self.bench = bench
        self.args = bench.args
        self.load = load
        self.load_end = os.getloadavg()
        self.started = started
        self.by_op: t.Dict[str, t.List[Measurement]] = {op: [] for op in OPERATIONS}
        for m in bench.results:
            self.by_op[m.op].append(m)
        self.rounds = {m.round for m in bench.results}
        self.rss_bound = self.args.parallel * self.args.chunk_size + RSS_SLACK_MIB * MIB
        self.checks: t.List[t.Tuple[str, str, bool]] = []
        self.all_pass = True
        self.table_text = ""

    def paired_ratio(self, op: str, base: str, attr: str) -> t.Tuple[float, float, float]:
        """Median, min and max over the rounds of ours/baseline measured in the same round."""
        base_by_round = {m.round: getattr(m, attr) for m in self.by_op[base]}
        ratios = [getattr(m, attr) / base_by_round[m.round] for m in self.by_op[op] if base_by_round.get(m.round)]
        if not ratios:
            return float("nan"), float("nan"), float("nan")
        return _med(ratios), min(ratios), max(ratios)

    def input_mib(self, m: Measurement) -> float:
        if m.op == "incremental":
            return m.extra.get("bytes_read", 0) / MIB
        return self.bench.dataset.bytes / MIB

    def table(self) -> str:
        ds = self.bench.dataset.describe()
        lines = [
            f"s3napback benchmark, {self.started:%Y-%m-%d %H:%M}, engine {git_head()}, "
            f"{os.cpu_count()} cores, load at start {self.load[0]:.2f} {self.load[1]:.2f} {self.load[2]:.2f}, "
            f"at end {self.load_end[0]:.2f} {self.load_end[1]:.2f} {self.load_end[2]:.2f}",
            f"dataset: {ds['bytes'] / MIB:.0f} MiB in {ds['files']} files ("
            + ", ".join(f"{k} {v['files']} files {v['bytes'] / MIB:.0f} MiB" for k, v in ds["kinds"].items())
            + ")",
            f"change before the incremental: {ds['mutation']['files']} files ({ds['mutation']['rewritten']} rewritten, "
            f"{ds['mutation']['added']} added, {ds['mutation']['deleted']} deleted, {ds['mutation']['appended']} "
            f"logs appended to), {ds['mutation']['bytes'] / MIB:.1f} MiB",
            f"config: ChunkSize {self.args.chunk_size // MIB} MiB, Parallel {self.args.parallel}, zstd -3, gpg; "
            f"{len(self.rounds)} rounds, medians (min-max)",
            "",
            f"{'operation':<17}{'wall s':>21}{'CPU s':>21}{'peak RSS MiB':>21}{'disk writes MiB':>18}"
            f"{'server CPU s':>14}{'MiB/s':>8}",
        ]
        for op in OPERATIONS:
            ms = self.by_op[op]
            if not ms:
                continue

            def cell(values: t.List[float], fmt: str = "{:.2f}") -> str:
                return f"{fmt.format(_med(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"

            walls = [m.wall for m in ms]
            lines.append(
                f"{op:<17}{cell(walls):>21}{cell([m.cpu for m in ms]):>21}"
                f"{cell([m.peak_rss / MIB for m in ms], '{:.0f}'):>21}"
                f"{_med([m.disk_write / MIB for m in ms]):>18.2f}{_med([m.server_cpu for m in ms]):>14.2f}"
                f"{_med([self.input_mib(m) / m.wall for m in ms]):>8.1f}"
            )
        lines.append("")
        lines += self.ratio_lines()
        lines.append("")
        lines += self.breakdown_lines()
        lines.append("")
        lines += self.target_lines()
        self.table_text = "\n".join(lines)
        return self.table_text

    def ratio_lines(self) -> t.List[str]:
        out = ["ratios to the baseline measured in the same round (median, min-max):"]
        pairs = [("full", "baseline"), ("incremental", "baseline"), ("restore", "baseline-restore")]
        for op, base in pairs:
            if not self.by_op[op] or not self.by_op[base]:
                continue
            wall, wall_lo, wall_hi = self.paired_ratio(op, base, "wall")
            cpu, cpu_lo, cpu_hi = self.paired_ratio(op, base, "cpu")
            rss, _rss_lo, _rss_hi = self.paired_ratio(op, base, "peak_rss")
            out.append(
                f"  {op:<12} / {base:<17} wall {wall:5.2f}x ({wall_lo:.2f}-{wall_hi:.2f})   "
                f"CPU {cpu:5.2f}x ({cpu_lo:.2f}-{cpu_hi:.2f})   peak RSS {rss:5.1f}x"
            )
        verified = [f"round {m.round}: {m.extra['verified']}" for m in self.by_op["restore"] if "verified" in m.extra]
        if verified:
            out.append(f"  restored tree vs the changed dataset: {'; '.join(verified)}")
        full = self.by_op["full"]
        if full:
            stored = _med([m.extra.get("bytes_uploaded", 0) for m in full])
            chunks = _med([m.extra.get("chunks", 0) for m in full])
            line = f"  stored by the full: {stored / MIB:.0f} MiB in {chunks:.0f} chunks"
            if getattr(self.bench, "baseline_archive", ""):
                line += f"; the baseline pipeline's output: {self.bench.baseline_archive_bytes / MIB:.0f} MiB"
            out.append(line)
            out.append(
                f"  physical bound of the full, (our CPU + server CPU) / {os.cpu_count()} cores: "
                f"{_med([(m.cpu + m.server_cpu) / (os.cpu_count() or 1) for m in full]):.2f} s; "
                f"wall / bound {_med([m.wall * (os.cpu_count() or 1) / (m.cpu + m.server_cpu) for m in full]):.2f}"
            )
        return out

    def breakdown_lines(self) -> t.List[str]:
        out = [
            "CPU seconds by program (median over rounds; from 20 ms samples, 'unattributed' = exited between samples):"
        ]
        for op in OPERATIONS:
            ms = self.by_op[op]
            if not ms:
                continue
            programs = sorted({p for m in ms for p in m.cpu_by_program}, key=lambda p: (p == "unattributed", p))
            cells = [f"{p} {_med([m.cpu_by_program.get(p, 0.0) for m in ms]):.2f}" for p in programs]
            peak = max(ms, key=lambda m: m.peak_rss)
            rss = ", ".join(f"{p} {v / MIB:.0f}" for p, v in peak.rss_at_peak.items())
            out.append(f"  {op:<17} {', '.join(cells)}")
            out.append(f"  {'':<17} RSS at the highest peak (MiB): {rss}")
            if op in ("full", "incremental"):
                writes = {p for m in ms for p in m.writes_by_program}
                cells = [f"{p} {_med([m.writes_by_program.get(p, 0) for m in ms]) / KIB:.0f}" for p in sorted(writes)]
                text = ", ".join(cells) or "none"
                out.append(
                    f"  {'':<17} disk writes seen per program, KiB (a parent's count has its reaped children's): {text}"
                )
        return out

    def check(self, label: str, detail: str, ok: bool) -> str:
        self.checks.append((label, detail, ok))
        self.all_pass = self.all_pass and ok
        return f"  [{'PASS' if ok else 'FAIL'}] {label}: {detail}"

    def target_lines(self) -> t.List[str]:
        out = ["targets (issue): full backup vs tar | zstd -3 -T0 | gpg > /dev/null on the same data, same rounds"]
        if self.by_op["full"] and self.by_op["baseline"]:
            wall = self.paired_ratio("full", "baseline", "wall")[0]
            cpu = self.paired_ratio("full", "baseline", "cpu")[0]
            out.append(self.check("wall time", f"{wall:.2f}x <= {TARGET_WALL}x", wall <= TARGET_WALL))
            out.append(self.check("CPU seconds", f"{cpu:.2f}x <= {TARGET_CPU}x", cpu <= TARGET_CPU))
        bound = self.rss_bound / MIB
        for op in ("full", "incremental", "restore"):
            if self.by_op[op]:
                peak = max(m.peak_rss for m in self.by_op[op]) / MIB
                detail = f"{op} max {peak:.0f} MiB <= Parallel x ChunkSize + {RSS_SLACK_MIB} MiB = {bound:.0f} MiB"
                out.append(self.check("peak RSS", detail, peak <= bound))
        for op in ("full", "incremental"):
            for m in self.by_op[op]:
                snapshot = m.extra.get("snapshot_bytes", 0)
                # the snapshot file is written once by tar (and, for a DIFF, copied first from the old one)
                copies = 2 if op == "incremental" else 1
                allowed = copies * (-(-snapshot // PAGE) * PAGE) + DISK_SLACK
                other = m.disk_write - copies * snapshot
                detail = (
                    f"{op} round {m.round}: {m.disk_write / KIB:.0f} KiB written, snapshot file "
                    f"{snapshot / KIB:.0f} KiB x{copies}, other {max(0, other) / KIB:.0f} KiB "
                    f"(allowed: {DISK_SLACK // KIB} KiB of page rounding)"
                )
                out.append(self.check("disk writes", detail, m.disk_write <= allowed))
        return out

    def save(self) -> str:
        folder = os.path.join(ROOT, "bench", "results")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{self.started:%Y%m%d-%H%M%S}.json")
        data = {
            "started": self.started.isoformat(timespec="seconds"),
            "engine": git_head(),
            "machine": {
                "cores": os.cpu_count(),
                "load_at_start": self.load,
                "load_at_end": self.load_end,
                "platform": platform.platform(),
            },
            "tools": tool_versions(),
            "args": dict(vars(self.args)),
            "dataset": dict(self.bench.dataset.describe(), state=self.bench.dataset_state),
            "rss_bound": self.rss_bound,
            "measurements": [asdict(m) for m in self.bench.results],
            "checks": [{"check": c, "detail": d, "pass": ok} for c, d, ok in self.checks],
            "table": self.table_text,
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        return path


def main(argv: t.Optional[t.Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="dataset size in MiB (default 1024)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every operation (default 3)")
    parser.add_argument(
        "--workdir",
        default=os.path.join(tempfile.gettempdir(), "s3napback-bench"),
        help="where the dataset (kept and reused) and each run's files live (default: %(default)s)",
    )
    parser.add_argument("--chunk-size", type=parse_size, default=64 * MIB, help="ChunkSize (default 64M)")
    parser.add_argument("--parallel", type=int, default=4, help="Parallel (default 4)")
    parser.add_argument("--keep", action="store_true", help="keep the run folder (S3 data, keys, configs)")
    parser.add_argument("--no-restore-baseline", action="store_true", help="skip the gpg | zstd | tar -x baseline")
    parser.add_argument("--verify-every-round", action="store_true", help="diff the restored tree in every round")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.size_mib < 8:
        parser.error("--rounds must be at least 1 and --size-mib at least 8")

    def on_term(signum: int, _frame: t.Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    bench = Bench(args)
    try:
        return bench.run()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except OperationFailed as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        bench.teardown()


if __name__ == "__main__":
    sys.exit(main())
