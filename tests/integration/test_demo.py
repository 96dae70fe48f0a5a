# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The README's demo command must keep working: it backs up, lists, restores and compares on its own."""

from __future__ import annotations

import os
import subprocess
import sys

from support.cli import REPO_ROOT


def test_demo_runs_end_to_end():
    env = dict(os.environ, VENV=os.path.dirname(os.path.dirname(sys.executable)))
    result = subprocess.run(  # noqa: S603
        ["bash", os.path.join(REPO_ROOT, "scripts", "demo.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert ": FULL " in result.stdout and "restored " in result.stdout
    assert "Contents, types, modes, owners and symlink targets are identical." in result.stdout
    assert result.stdout.rstrip().endswith("Demo OK")
