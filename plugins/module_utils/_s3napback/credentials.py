# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Credentials files of ``name=value`` lines (the seed's S3KeyFile, the SMTP credentials): read without
ever echoing a line, which may hold the secret."""

from __future__ import annotations

import typing as t

from .errors import ConfigError


def read_credentials(path: str, names: t.Sequence[str], what: str) -> t.Dict[str, str]:
    """The values of ``names`` (all required) in the file ``path``, known in messages as ``what``."""
    values: t.Dict[str, str] = {}
    expected = " or ".join(f"{n}=..." for n in names)
    try:
        with open(path, encoding="utf-8") as handle:
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
