# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write configs in the seed's format for the tests."""

from __future__ import annotations

import os
from collections.abc import Sequence


def write_config(
    path: str | os.PathLike,
    *,
    bucket: str,
    endpoint: str,
    key_file: str | os.PathLike,
    diff_dir: str | os.PathLike,
    directories: Sequence[str | os.PathLike],
    recipient: str | None = None,
    keyring: str | os.PathLike | None = None,
    host: str = "test-host",
    chunk_size: str = "1M",
    timing: str = "Frequency 1\n    Diffs 7\n    Fulls 2",
    extra: str = "",
) -> str:
    lines = [
        f"DiffDir {diff_dir}",
        f"Bucket {bucket}",
        f"S3KeyFile {key_file}",
        f"S3Endpoint {endpoint}",
        f"HostName {host}",
        f"ChunkSize {chunk_size}",
    ]
    if recipient:
        lines.append(f"GpgRecipient {recipient}")
    if keyring:
        lines.append(f"GpgKeyring {keyring}")
    if extra:
        lines.append(extra)
    for directory in directories:
        lines += [f"<Directory {directory}>", f"    {timing}", "</Directory>"]
    text = "\n".join(lines) + "\n"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return str(path)


def write_local_config(path: str | os.PathLike, directory: str | os.PathLike, *extra: str) -> str:
    """A config of one directory set that parses with no S3 server or key in reach, for commands that stop
    before they need one (``check --config-only``, a missing library); ``extra`` adds directive lines."""
    lines = ["Bucket backups", f"DiffDir {os.path.join(os.fspath(directory), 'diffs')}", *extra]
    lines.append(f"Directory {directory} 1 7 2")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return str(path)


def config_for(tmp_path, s3_server, bucket: str, key_file, keys, data, **overrides) -> str:
    """``tmp_path/s3napback.conf``: the one directory set ``data`` on the test server, encrypted to ``keys``
    (a support.gpgkeys key pair, or None for no recipient); ``overrides`` replace any write_config argument."""
    values = dict(
        bucket=bucket,
        endpoint=s3_server.endpoint,
        key_file=key_file,
        diff_dir=tmp_path / "diffs",
        directories=[data],
        recipient=keys.email if keys else None,
        keyring=keys.public_home if keys else None,
    )
    values.update(overrides)
    return write_config(tmp_path / "s3napback.conf", **values)
