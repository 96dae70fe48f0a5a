# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The role's config tasks under ``ansible-playbook --diff``: the config's diff is shown, unless it holds a secret.

The heartbeat URL carries a monitor's token, so while one is set (and ``s3napback_no_log`` is on) the rendered
config must not appear in a diff; the credentials files never do. Runs the role's own ``config`` tasks on
localhost, for real, with every path under the test's folder.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from support.ansible import REPO_ROOT, Playbooks

TOKEN = "4f0c2d0e-token-never-shown"
S3_SECRET = "s3-secret-never-shown"


def _command_wrapper(folder: Path) -> Path:
    """The s3napback command as the role would install it, but running the engine from this checkout."""
    folder.mkdir(exist_ok=True)
    wrapper = folder / "s3napback"
    engine = REPO_ROOT / "plugins" / "module_utils"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{engine}" exec "{sys.executable}" -m _s3napback "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def test_config_diff_hides_the_heartbeat_token_and_shows_the_rest(tmp_path):
    assert os.geteuid() == 0, "this test runs as root (as .ci/run does): the role's tasks make files owned by root"
    runner = Playbooks(tmp_path / "ansible", "ansible.builtin.debug")  # for its collection path and environment
    etc = tmp_path / "etc"
    role_vars = {
        "s3napback_config_path": str(etc / "s3napback.conf"),
        "s3napback_key_file": str(etc / "s3-credentials"),
        "s3napback_smtp_credentials_file": str(etc / "smtp-credentials"),
        "s3napback_diff_dir": str(tmp_path / "diffs"),
        "s3napback_command": str(_command_wrapper(tmp_path / "my bin")),  # a space: validate must quote it
        "s3napback_log_file": str(tmp_path / "diffs" / "s3napback.log"),  # its folder is DiffDir: made 0700 once
        "s3napback_bucket": "first-bucket",
        "s3napback_encryption": "none",
        "s3napback_s3_access_key": "AKIDEXAMPLE",
        "s3napback_s3_secret_key": S3_SECRET,
        "s3napback_directories": [{"path": str(tmp_path)}],
    }
    playbook = tmp_path / "config.yml"
    play = {
        "name": "Render the config",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable},
        "tasks": [
            {
                "name": "Run the role's config tasks",
                "ansible.builtin.include_role": {"name": "s3napback.s3napback.s3napback", "tasks_from": "config"},
            }
        ],
    }
    playbook.write_text(json.dumps([play]))

    def run(**overrides: object) -> str:
        extra = tmp_path / "extra.json"
        extra.write_text(json.dumps({**role_vars, **overrides}))
        proc = subprocess.run(  # noqa: S603
            [runner.ansible_playbook, "--diff", "-i", "localhost,", str(playbook), "-e", f"@{extra}"],
            cwd=tmp_path, env=runner.env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output
        return output

    first = run(s3napback_heartbeat_url=f"https://hc.example.invalid/{TOKEN}")
    assert TOKEN in (etc / "s3napback.conf").read_text()  # it was written...
    assert TOKEN not in first  # ...but never shown
    assert S3_SECRET not in first and S3_SECRET in (etc / "s3-credentials").read_text()
    assert "+Bucket first-bucket" not in first  # no diff of the config at all while it holds the token
    assert stat.S_IMODE(os.stat(tmp_path / "diffs").st_mode) == 0o700  # not the log folder's 0755

    # without a heartbeat URL the config has no secret: its diff is shown, as for any template (third run),
    # except when the file being replaced holds one: its diff would show the old token as a removed line
    second = run(s3napback_bucket="second-bucket", s3napback_heartbeat_url="")
    assert TOKEN not in second
    assert "+Bucket second-bucket" not in second
    assert TOKEN not in (etc / "s3napback.conf").read_text()

    third = run(s3napback_bucket="third-bucket", s3napback_heartbeat_url="")
    assert "-Bucket second-bucket" in third and "+Bucket third-bucket" in third, third
    assert S3_SECRET not in second + third

    # with s3napback_no_log off (a test lab debugging its templates) the token may show, as documented
    debug = run(s3napback_heartbeat_url=f"https://hc.example.invalid/{TOKEN}", s3napback_no_log=False)
    assert f"+HeartbeatUrl https://hc.example.invalid/{TOKEN}" in debug
