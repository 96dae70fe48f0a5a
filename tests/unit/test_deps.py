# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""boto3 and python-gnupg are imported on first use: a missing one is one clear line, and only where needed."""

from __future__ import annotations

import os
import subprocess
import sys

from support.cli import cli_env, run_cli
from support.configs import write_local_config


def _without(tmp_path, *packages: str) -> dict[str, str]:
    """An environment whose PYTHONPATH shadows ``packages`` with ones that fail to import, as when not installed."""
    shadow = tmp_path / "shadow"
    for package in packages:
        (shadow / package).mkdir(parents=True)
        (shadow / package / "__init__.py").write_text(f"raise ImportError('No module named {package}')\n")
    return {"PYTHONPATH": str(shadow) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _config(tmp_path, *extra: str) -> str:
    return write_local_config(tmp_path / "s3napback.conf", tmp_path, *extra)


def test_without_boto3_the_backup_names_the_missing_library_and_the_config_check_still_works(tmp_path):
    env = _without(tmp_path, "boto3", "botocore")
    conf = _config(tmp_path, "Encryption none")

    checked = run_cli("check", "--config-only", "-c", conf, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    backup = run_cli("backup", "-c", conf, env=env)
    assert backup.returncode == 8, backup.stdout + backup.stderr
    assert backup.stderr.strip().splitlines() == [
        "s3napback: error: the Python library boto3 is missing; "
        "install python3-boto3 (Debian/Ubuntu) or 'pip install boto3'"
    ]
    assert not (tmp_path / "diffs").exists()  # it stopped before touching anything


def test_without_python_gnupg_an_encrypting_backup_names_the_missing_library(tmp_path):
    env = _without(tmp_path, "gnupg")
    (tmp_path / "keyring").mkdir(mode=0o700)  # an empty GnuPG home
    conf = _config(tmp_path, "GpgRecipient backup@example.com", f"GpgKeyring {tmp_path / 'keyring'}")

    backup = run_cli("backup", "-c", conf, env=env)
    assert backup.returncode == 8, backup.stdout + backup.stderr
    assert "the Python library python-gnupg is missing; install python3-gnupg" in backup.stderr
    assert len(backup.stderr.strip().splitlines()) == 1


def test_the_command_imports_boto3_and_gnupg_only_when_it_needs_them():
    probe = (
        "import sys, _s3napback.cli, _s3napback.backup, _s3napback.restore\n"
        "print(sorted(name for name in ('boto3', 'botocore', 'gnupg') if name in sys.modules))\n"
        "from _s3napback import _deps\n"
        "_deps.require_boto3(); _deps.require_gnupg()\n"
        "print(sorted(name for name in ('boto3', 'botocore', 'gnupg') if name in sys.modules))\n"
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", probe], env=cli_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "['boto3', 'botocore', 'gnupg']"]
