# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the ``s3napback`` command (``python -m _s3napback``) as a real subprocess, as cron would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping

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


def start_cli(*args: str | os.PathLike, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Start ``python -m _s3napback ARGS`` in the background (text pipes), to act on it while it runs."""
    argv = [sys.executable, "-m", "_s3napback", *(os.fspath(a) for a in args)]
    return subprocess.Popen(argv, env=cli_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603


def wait_while_running(process: subprocess.Popen, reached: Callable[[], bool], what: str, timeout: float = 120) -> None:
    """Poll until ``reached()``; fail if the command ends first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not reached():
        assert process.poll() is None, f"the command ended before {what}: {process.communicate()}"
        assert time.monotonic() < deadline, f"no {what} in {timeout} s"
        time.sleep(0.02)


def fake_tool(directory: str | os.PathLike, name: str, script: str) -> dict[str, str]:
    """PATH with a wrapper for ``name`` first (made in ``directory``): a shell script in which ``REAL`` is the
    real tool, to make it fail or slow it down the way ``script`` says."""
    bin_dir = os.path.join(directory, f"fake-{name}")
    os.mkdir(bin_dir)
    real = subprocess.run(["sh", "-c", f"command -v {name}"], capture_output=True, text=True, check=True).stdout
    wrapper = os.path.join(bin_dir, name)
    with open(wrapper, "w") as handle:
        handle.write("#!/bin/sh\n" + script.replace("REAL", real.strip()))
    os.chmod(wrapper, 0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The command's error line, checked to be its only one: a failure, no traceback, one ``s3napback: error:``."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("s3napback: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]
