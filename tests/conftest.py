# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared pytest fixtures: real parts only (a real S3 server, real GPG keys, the real command).

- ``s3_server`` (session): SeaweedFS on free loopback ports, or the server at ``$S3NAPBACK_TEST_ENDPOINT``.
- ``bucket`` (function): a fresh, uniquely named bucket on it, emptied and deleted afterwards.
- ``gpg_keys`` (session): a key pair split into a private home and a public-only home.
- ``gpg_keypair_factory`` (function): more, independent key pairs (e.g. a wrong key), cleaned up afterwards.
- ``s3_key_file`` (function): the seed-format credentials file (``key=...``/``secret=...``, mode 0600).
- ``cli`` (function): :func:`support.cli.run_cli`, which runs ``python -m _s3napback`` as a subprocess.

Tests that use ``s3_server`` or ``bucket`` get the ``integration`` marker automatically.
"""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.cli import run_cli
from support.configs import write_config
from support.gpgkeys import KeyPair, make_keypair
from support.s3server import S3Server, delete_bucket, from_environment, start_seaweedfs

GPG_TEST_EMAIL = "backup-test@s3napback.invalid"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server for the whole session (started once, stopped at the end)."""
    external = from_environment()
    if external is not None:
        yield external
        return
    server = start_seaweedfs(str(tmp_path_factory.mktemp("s3server")))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_server: S3Server) -> Iterator[str]:
    """The name of a fresh, empty bucket (``s3nb-test-<hex>``); deleted with its contents afterwards."""
    name = "s3nb-test-" + secrets.token_hex(6)
    s3_server.client().create_bucket(Bucket=name)
    yield name
    try:
        delete_bucket(s3_server, name)
    except Exception as exc:  # best effort: a leftover bucket on a throwaway server is harmless
        warnings.warn(f"could not delete test bucket {name}: {exc}", stacklevel=1)


@pytest.fixture(scope="session")
def gpg_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyPair]:
    """A real key pair without passphrase: ``.private_home`` has the secret key, ``.public_home`` only the public."""
    keys = make_keypair(tmp_path_factory.mktemp("gpg"), GPG_TEST_EMAIL)
    try:
        yield keys
    finally:
        keys.close()


@pytest.fixture
def gpg_keypair_factory(tmp_path: Path) -> Iterator[Callable[[str], KeyPair]]:
    """``factory(email)`` makes another independent key pair; all are cleaned up (agents stopped) afterwards."""
    made: list[KeyPair] = []

    def factory(email: str) -> KeyPair:
        keys = make_keypair(tmp_path, email)
        made.append(keys)
        return keys

    yield factory
    for keys in made:
        keys.close()


@pytest.fixture
def s3_key_file(tmp_path: Path, s3_server: S3Server) -> Path:
    """The seed's S3 credentials file for ``s3_server``: ``key=ACCESS`` and ``secret=SECRET`` lines, mode 0600."""
    path = tmp_path / "s3-key.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(f"key={s3_server.access_key}\nsecret={s3_server.secret_key}\n")
    os.chmod(path, 0o600)
    return path


@pytest.fixture
def make_config(
    tmp_path: Path, bucket: str, s3_server: S3Server, s3_key_file: Path, gpg_keys: KeyPair
) -> Callable[..., str]:
    """``make_config([DIR...], chunk_size="1M", extra=...)``: a config for the test's bucket, server and keys,
    written to tmp_path/s3napback.conf (keyword arguments as for :func:`support.configs.write_config`)."""

    def make(directories: list = (), **overrides: object) -> str:  # type: ignore[assignment]
        values: dict = dict(
            bucket=bucket,
            endpoint=s3_server.endpoint,
            key_file=s3_key_file,
            diff_dir=tmp_path / "diffs",
            directories=list(directories),
            recipient=gpg_keys.email,
            keyring=gpg_keys.public_home,
        )
        values.update(overrides)
        return write_config(tmp_path / "s3napback.conf", **values)

    return make


@pytest.fixture
def cli() -> Callable[..., object]:
    """:func:`support.cli.run_cli`: ``cli("backup", "-c", conf, check=True)``."""
    return run_cli


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "s3_server" in fixtures or "bucket" in fixtures:
            item.add_marker(pytest.mark.integration)
