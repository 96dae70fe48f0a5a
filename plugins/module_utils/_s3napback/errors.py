# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Errors with one-line messages and the exit code the command returns for them."""

from __future__ import annotations


class S3napbackError(Exception):
    """Base class: str(error) is a single line naming the cause and, where possible, the fix."""

    exit_code = 1


class ConfigError(S3napbackError):
    """The configuration is invalid; the message names the file and line."""

    exit_code = 2


class StorageError(S3napbackError):
    """S3 refused or could not be reached."""

    exit_code = 3


class PipelineError(S3napbackError):
    """A stage of the backup or restore pipeline (tar, zstd, gpg, a dumper) failed."""

    exit_code = 4


class LockError(S3napbackError):
    """Another run holds the lock."""

    exit_code = 5


class RestoreError(S3napbackError):
    """A restore was refused (missing or corrupted data, bad destination, no key)."""

    exit_code = 6


class KeyringError(S3napbackError):
    """No usable GPG key for encryption or decryption."""

    exit_code = 7


class OutputError(S3napbackError):
    """The command's own output could not be written (a full disk under ``> FILE``)."""

    exit_code = 9


class Terminated(KeyboardInterrupt):
    """SIGTERM (systemd stopping the service, a shutdown, ``kill``): cleaned up as Ctrl-C is, so what the run
    uploaded is removed at once and the snapshot file rolled back, instead of dying where it stands."""


def stop_reason(stop: KeyboardInterrupt) -> str:
    """How a run was stopped, in the words the command, the log and the report mail use."""
    return "terminated (SIGTERM)" if isinstance(stop, Terminated) else "interrupted"
