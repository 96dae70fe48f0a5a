# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the ``s3napback`` command (``python -m _s3napback``) as a real subprocess, as cron would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE_UTILS = os.path.join(REPO_ROOT, "plugins", "module_utils")
CLI_TIMEOUT = 900


def cli_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for the command: ours plus ``env``, with plugins/module_utils first on PYTHONPATH."""
    merged = dict(os.environ)
    if env:
        merged.update(env)
    path = merged.get("PYTHONPATH")
    merged["PYTHONPATH"] = MODULE_UTILS + (os.pathsep + path if path else "")
    return merged


def run_cli(
    *args: str | os.PathLike,
    input: str | None = None,  # same name as subprocess.run's
    env: Mapping[str, str] | None = None,
    check: bool = False,
    cwd: str | os.PathLike | None = None,
    timeout: float = CLI_TIMEOUT,
) -> subprocess.CompletedProcess:
    """Run ``python -m _s3napback ARGS`` and return the CompletedProcess (text stdout/stderr).

    ``env`` is merged into the current environment. With ``check=True``, assert that it exited 0 and show its
    output in the assertion message.
    """
    argv = [sys.executable, "-m", "_s3napback", *(os.fspath(a) for a in args)]
    result = subprocess.run(  # noqa: S603
        argv,
        input=input,
        env=cli_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        # every command prints something on success: silence with exit 0 means it did not run at all
        assert result.returncode == 0 and result.stdout.strip(), (
            f"{' '.join(argv[1:])} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result
