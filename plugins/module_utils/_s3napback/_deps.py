# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Third-party imports, guarded once, so a missing library is reported as one clear line.

``_deps.boto3``, ``_deps.botocore`` and ``_deps.gnupg`` are imported on first use (None when missing):
commands that never reach S3 or gpg (``check --config-only``, which the role runs on every rendered
config, ``plan``, ``--help``) start without boto3, about a quarter of a second sooner.
"""

from __future__ import annotations

import typing as t

from .errors import S3napbackError

__all__ = ["MissingDependency", "require_boto3", "require_gnupg"]  # and, imported on first use: boto3, botocore, gnupg


def _import_boto3() -> t.Tuple[t.Any, t.Any]:
    try:
        import boto3
        import botocore.config
        import botocore.exceptions
    except ImportError:  # reported by require_boto3() when S3 is first needed
        return None, None
    return boto3, botocore


def _import_gnupg() -> t.Any:
    try:
        import gnupg
    except ImportError:
        return None
    return gnupg


def __getattr__(name: str) -> t.Any:
    """Import a library the first time it is asked for; later lookups find the module attribute itself."""
    if name in ("boto3", "botocore"):
        globals()["boto3"], globals()["botocore"] = _import_boto3()
    elif name == "gnupg":
        globals()["gnupg"] = _import_gnupg()
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return globals()[name]


def _library(name: str) -> t.Any:
    """What ``_deps.NAME`` gives from outside; inside this module a bare name would not reach __getattr__."""
    return globals()[name] if name in globals() else __getattr__(name)


class MissingDependency(S3napbackError):
    exit_code = 8

    def __init__(self, library: str, package: str) -> None:
        super().__init__(f"the Python library {library} is missing; install {package}")
        self.library = library


def require_boto3() -> t.Any:
    boto3 = _library("boto3")
    if boto3 is None:
        raise MissingDependency("boto3", "python3-boto3 (Debian/Ubuntu) or 'pip install boto3'")
    return boto3


def require_gnupg() -> t.Any:
    # python-gnupg, not the unrelated PyPI package 'gnupg' that also imports as gnupg
    gnupg = _library("gnupg")
    if gnupg is None or not hasattr(gnupg, "GPG"):
        raise MissingDependency("python-gnupg", "python3-gnupg (Debian/Ubuntu) or 'pip install python-gnupg'")
    return gnupg
