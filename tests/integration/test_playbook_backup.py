# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``ansible-playbook s3napback.s3napback.backup``: back up now, one summary line per host and set, also when a
set fails."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from support.ansible import Playbooks
from support.configs import write_config


def test_backup_playbook_reports_one_line_per_set(tmp_path, bucket, s3_server, s3_key_file, gpg_keys):
    sources = []
    for name in ("alpha", "beta"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "file.txt").write_text(f"{name}\n")
        sources.append(str(folder))
    conf = write_config(
        tmp_path / "s3napback.conf",
        bucket=bucket,
        endpoint=s3_server.endpoint,
        key_file=s3_key_file,
        diff_dir=tmp_path / "diffs",
        directories=sources,
        recipient=gpg_keys.email,
        keyring=gpg_keys.public_home,
    )
    runner = Playbooks(tmp_path / "ansible", "ansible.builtin.debug")  # only for its environment
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(
        f"[backup_hosts]\nlocalhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )

    def play(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603
            [runner.ansible_playbook, "-i", str(inventory), "s3napback.s3napback.backup",
             "-e", f"s3napback_config_path={conf}", "-e", "ansible_become=false", *extra],
            cwd=tmp_path, env=runner.env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip

    first = play()
    assert first.returncode == 0, first.stdout + first.stderr
    lines = [json.loads(m)["msg"] for m in re.findall(r"=> (\{.*?\n\})", first.stdout, re.S) if '"msg"' in m]
    assert len(lines) == 2, first.stdout
    assert lines[0].startswith(f"{sources[0]}: FULL ") and "in slot" in lines[0] and "chunks" in lines[0]
    assert lines[1].startswith(f"{sources[1]}: FULL ")
    assert "changed=1" in first.stdout

    again = play()
    assert again.returncode == 0 and "changed=0" in again.stdout
    assert f'"msg": "{sources[0]}: SKIP (already backed up in this period' in again.stdout

    forced = play("-e", "s3napback_force=true")
    assert forced.returncode == 0 and f'"msg": "{sources[0]}: DIFF ' in forced.stdout
    # a set that fails: every set's line still shows, its own with the cause, then the host fails
    (tmp_path / "beta").rename(tmp_path / "beta-moved")
    broken = play("-e", "s3napback_force=true")
    assert broken.returncode == 2, broken.stdout + broken.stderr
    assert f'"msg": "{sources[0]}: DIFF ' in broken.stdout
    assert f'"msg": "{sources[1]}: FAILED: ' in broken.stdout and "does not exist" in broken.stdout
    assert "fatal: [localhost]" in broken.stdout and "failed=1" in broken.stdout
    assert s3_server.secret_key not in first.stdout + again.stdout + forced.stdout + broken.stdout
