# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The role's key tasks on localhost, for real: every key of every block becomes a recipient, and a private
key given by mistake is refused without a line of it in the output (a loop's item is shown on failure)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support.ansible import Playbooks
from support.gpgkeys import export_secret_key

pytestmark = pytest.mark.integration


def test_every_key_of_a_block_is_a_recipient_and_a_private_key_is_not_shown(tmp_path, gpg_keypair_factory):
    first, second, third = (gpg_keypair_factory(f"key{n}@example.org") for n in (1, 2, 3))
    gpg = ["gpg", "--homedir", first.public_home, "--batch"]
    subprocess.run([*gpg, "--import"], input=second.public_armored.encode(), capture_output=True, check=True)  # noqa: S603
    block = subprocess.run(  # noqa: S603 - one armored block that holds two public keys
        [*gpg, "--armor", "--export", first.fingerprint, second.fingerprint], capture_output=True, text=True, check=True
    ).stdout
    runner = Playbooks(tmp_path / "ansible", "ansible.builtin.debug")
    playbook = tmp_path / "keys.yml"
    playbook.write_text(
        json.dumps(
            [
                {
                    "name": "Import the keys",
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "vars": {"ansible_python_interpreter": sys.executable},
                    "tasks": [
                        {
                            "name": "Run the role's key tasks",
                            "ansible.builtin.include_role": {
                                "name": "s3napback.s3napback.s3napback",
                                "tasks_from": "keys",
                            },
                        },
                        {"name": "Show the recipients", "ansible.builtin.debug": {"var": "_s3napback_recipients"}},
                    ],
                }
            ]
        )
    )

    def run(keys: list) -> subprocess.CompletedProcess:
        extra = tmp_path / "extra.json"
        extra.write_text(json.dumps({"s3napback_gpg_home": str(tmp_path / "gnupg"), "s3napback_gpg_public_keys": keys}))
        return subprocess.run(  # noqa: S603
            [runner.ansible_playbook, "-i", "localhost,", str(playbook), "-e", f"@{extra}"],
            cwd=tmp_path, env=runner.env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    done = run([block, third.public_armored])
    assert done.returncode == 0, done.stdout + done.stderr
    for keys in (first, second, third):
        assert f'"{keys.fingerprint}"' in done.stdout, done.stdout

    private = export_secret_key(third)
    refused = run([block, private])
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "public key 2" in output, output
    for line in private.splitlines():
        if len(line) >= 40 and not line.startswith("-----"):
            assert line not in output, "a line of the private key appears in the ansible-playbook output"
