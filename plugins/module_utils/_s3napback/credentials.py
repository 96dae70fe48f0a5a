# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Credentials files of ``name=value`` lines (the seed's S3KeyFile, the SMTP credentials): read without
ever echoing a line, which may hold the secret."""

from __future__ import annotations

import logging
import os
import stat
import typing as t

from .errors import ConfigError

log = logging.getLogger(__name__)


def read_credentials(path: str, names: t.Sequence[str], what: str) -> t.Dict[str, str]:
    """The values of ``names`` (all required) in the file ``path``, known in messages as ``what``."""
    values: t.Dict[str, str] = {}
    expected = " or ".join(f"{n}=..." for n in names)
    try:
        with open(path, encoding="utf-8") as handle:
            warn_if_shared(path, os.fstat(handle.fileno()), what)
            for number, line in enumerate(handle, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                name, sep, value = line.partition("=")
                if not sep:
                    raise ConfigError(f"{path}:{number}: expected {expected}")
                values[name.strip().lower()] = value.strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:  # the bytes are not shown: they may be a secret
        raise ConfigError(f"{path}: {what} is not UTF-8 text; write it as name=value lines") from None
    missing = [n for n in names if not values.get(n)]
    if missing:
        raise ConfigError(f"{path}: {what} has no {' and no '.join(n + '=' for n in missing)} line")
    return {n: values[n] for n in names}


def warn_if_shared(path: str, status: os.stat_result, what: str) -> None:
    """ssh refuses a private key others can read; a nightly backup must not stop for it, so it only warns."""
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o077:
        log.warning(
            "%s %s is mode %04o, open to other users; keep the secret in it private: chmod 600 %s",
            what,
            path,
            mode,
            path,
        )
