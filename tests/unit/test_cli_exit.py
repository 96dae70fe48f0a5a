# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How the command ends: at once (os._exit) with its exit status and all its output, normally under a profiler."""

from __future__ import annotations

import os
import pstats
import pty
import subprocess
import sys

import pytest

from support.cli import cli_env, run_cli
from support.configs import write_local_config


def _config(tmp_path) -> str:
    return write_local_config(tmp_path / "s3napback.conf", tmp_path, "Encryption none")


def test_the_output_and_the_exit_status_survive_the_fast_exit(tmp_path):
    good = run_cli("check", "--config-only", "-c", _config(tmp_path))
    assert (good.returncode, good.stdout, good.stderr) == (
        0,
        f"config: ok: {tmp_path / 's3napback.conf'}: 1 sets\n",
        "",
    )
    bad = run_cli("check", "--config-only", "-c", tmp_path / "missing.conf")
    assert bad.returncode == 2 and bad.stdout == ""
    assert (
        bad.stderr == f"s3napback: error: cannot read config {tmp_path / 'missing.conf'}: No such file or directory\n"
    )


def test_under_a_profiler_the_command_ends_normally_so_the_profile_is_written(tmp_path):
    profile = tmp_path / "run.prof"
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "_s3napback",
         "check", "--config-only", "-c", _config(tmp_path)],
        env=cli_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "config: ok:" in done.stdout
    functions = {name for _file, _line, name in pstats.Stats(str(profile)).stats}
    assert "run_and_exit" in functions


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered", "buffered"])
def test_a_reader_that_went_away_ends_the_output_quietly(tmp_path, unbuffered):
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "_s3napback", "check", "--config-only", "-c", _config(tmp_path)],
            env=cli_env({"PYTHONUNBUFFERED": unbuffered}), stdout=write_end, stderr=subprocess.PIPE,
            text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered", "buffered"])
def test_output_that_cannot_be_written_is_an_error(tmp_path, unbuffered):
    with open("/dev/full", "w", encoding="utf-8") as full:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "_s3napback", "check", "--config-only", "-c", _config(tmp_path)],
            env=cli_env({"PYTHONUNBUFFERED": unbuffered}), stdout=full, stderr=subprocess.PIPE,
            text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 9
    assert done.stderr == "s3napback: error: could not write the output: No space left on device\n"


def test_a_config_expected_on_a_terminal_is_refused_at_once(tmp_path):
    """`s3napback backup` at a terminal without -c used to wait, silently, for a config typed in."""
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "_s3napback", "backup"],
            stdin=terminal,
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=60,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "s3napback: error: no config: give -c FILE, or the config on standard input (s3napback < FILE)"
    )
