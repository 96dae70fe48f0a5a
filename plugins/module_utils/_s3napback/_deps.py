# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Third-party imports, guarded once, so a missing library is reported as one clear line."""

from __future__ import annotations

import typing as t

from .errors import S3napbackError

__all__ = ["MissingDependency", "boto3", "botocore", "gnupg", "require_boto3", "require_gnupg"]

try:
    import boto3
    import botocore.config
    import botocore.exceptions
except ImportError:  # reported by require() when S3 is first needed
    boto3 = None
    botocore = None

try:
    import gnupg
except ImportError:
    gnupg = None


class MissingDependency(S3napbackError):
    exit_code = 8

    def __init__(self, library: str, package: str) -> None:
        super().__init__(f"the Python library {library} is missing; install {package}")
        self.library = library


def require_boto3() -> t.Any:
    if boto3 is None:
        raise MissingDependency("boto3", "python3-boto3 (Debian/Ubuntu) or 'pip install boto3'")
    return boto3


def require_gnupg() -> t.Any:
    # python-gnupg, not the unrelated PyPI package 'gnupg' that also imports as gnupg
    if gnupg is None or not hasattr(gnupg, "GPG"):
        raise MissingDependency("python-gnupg", "python3-gnupg (Debian/Ubuntu) or 'pip install python-gnupg'")
    return gnupg
