# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The README's recovery with standard tools only (aws, gpg, zstd, tar), run exactly as the README writes it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys

from support.cli import REPO_ROOT
from support.configs import write_config
from support.trees import add_special_entries, assert_same_tree, make_tree

MARKER = "<!-- recovery-recipe:"


def readme_recipe() -> str:
    with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    after = text[text.index(MARKER) :]
    match = re.search(r"```sh\n(.*?)```", after, re.S)
    assert match, "the README lost its recovery recipe"
    return match.group(1)


def aws_cli() -> str:
    for candidate in (os.path.join(os.path.dirname(sys.executable), "aws"), shutil.which("aws")):
        if candidate and os.path.exists(candidate):
            return candidate
    raise AssertionError("the AWS CLI is not installed: make venv installs it from requirements-dev.txt")


def test_recover_full_and_diffs_with_standard_tools(tmp_path, bucket, s3_server, s3_key_file, gpg_keys, cli):
    source = str(tmp_path / "a folder")  # a space, to prove the recipe's quoting
    make_tree(source, files=200, total_bytes=3 * 1024 * 1024, seed=3)
    add_special_entries(source)
    conf = write_config(
        tmp_path / "s3napback.conf",
        bucket=bucket,
        endpoint=s3_server.endpoint,
        key_file=s3_key_file,
        diff_dir=tmp_path / "diffs",
        directories=[f'"{source}"'],
        recipient=gpg_keys.email,
        keyring=gpg_keys.public_home,
        host="web1.example.com",
        chunk_size="512K",
    )
    cli("backup", "-c", conf, "--date", "2026-06-01", check=True)
    os.unlink(os.path.join(source, "d01", "e1", "f00001.txt"))
    with open(os.path.join(source, "added on day 2.txt"), "w") as handle:
        handle.write("two\n")
    cli("backup", "-c", conf, "--date", "2026-06-02", check=True)
    with open(os.path.join(source, "added on day 3.txt"), "w") as handle:
        handle.write("three\n")
    cli("backup", "-c", conf, "--date", "2026-06-03", check=True)

    dest = tmp_path / "restored"
    settings = "\n".join(
        [
            f"export AWS_ACCESS_KEY_ID={shlex.quote(s3_server.access_key)}",
            f"export AWS_SECRET_ACCESS_KEY={shlex.quote(s3_server.secret_key)}",
            f"BUCKET={bucket}",
            "HOST=web1.example.com",
            f"SETPATH={shlex.quote(source)}",
            f"DEST={shlex.quote(str(dest))}",
            f"S3=({shlex.quote(aws_cli())} --endpoint-url {s3_server.endpoint} s3)",
        ]
    )
    env = dict(os.environ, GNUPGHOME=gpg_keys.private_home, AWS_DEFAULT_REGION="us-east-1")
    result = subprocess.run(  # noqa: S603
        ["bash", "-c", settings + "\n" + readme_recipe()],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "-full/" in result.stdout and result.stdout.count("-diff/") == 2  # the listing the user sees
    assert_same_tree(source, str(dest) + source)
    assert not os.path.exists(str(dest) + source + "/d01/e1/f00001.txt")  # deleted on day 2, stays deleted
