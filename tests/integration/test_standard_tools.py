# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The README's recovery with standard tools only (aws, gpg, zstd, tar), run exactly as the README writes it:
a directory set beside what failed runs leave, and a Subversion set with svnadmin load in place of tar."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

from support.cli import REPO_ROOT
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


def run_recipe(recipe: str, s3_server, bucket, setpath: str, dest, gnupghome: str) -> subprocess.CompletedProcess:
    """The README's settings block filled in for this test, then ``recipe``, under bash."""
    settings = "\n".join(
        [
            f"export AWS_ACCESS_KEY_ID={shlex.quote(s3_server.access_key)}",
            f"export AWS_SECRET_ACCESS_KEY={shlex.quote(s3_server.secret_key)}",
            f"BUCKET={bucket}",
            "HOST=web1.example.com",
            f"SETPATH={shlex.quote(setpath)}",
            f"DEST={shlex.quote(str(dest))}",
            f"S3=({shlex.quote(aws_cli())} --endpoint-url {s3_server.endpoint} s3)",
        ]
    )
    scratch = os.path.join(os.path.dirname(dest), "recipe-tmp")  # where mktemp makes $WORK
    os.makedirs(scratch)
    env = dict(os.environ, GNUPGHOME=gnupghome, AWS_DEFAULT_REGION="us-east-1", TMPDIR=scratch)
    result = subprocess.run(  # noqa: S603
        ["bash", "-c", settings + "\n" + recipe],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert os.listdir(scratch) == [], "the recipe left its downloads behind"
    return result


def backup_ids(cli, conf: str, day: str) -> list[str]:
    return [r["backup_id"] for r in json.loads(cli("backup", "-c", conf, "--date", day, "--json", check=True).stdout)]


def test_recover_full_and_diffs_with_standard_tools(tmp_path, bucket, s3_server, gpg_keys, make_config, cli):
    source = str(tmp_path / "a folder+x:1")  # a space, to prove the recipe's quoting; + and : are encoded too
    make_tree(source, files=200, total_bytes=3 * 1024 * 1024, seed=3)
    add_special_entries(source)
    conf = make_config([f'"{source}"'], host="web1.example.com", chunk_size="512K")
    committed = backup_ids(cli, conf, "2026-06-01")
    os.unlink(os.path.join(source, "d01", "e1", "f00001.txt"))
    with open(os.path.join(source, "added on day 2.txt"), "w") as handle:
        handle.write("two\n")
    committed += backup_ids(cli, conf, "2026-06-02")
    with open(os.path.join(source, "added on day 3.txt"), "w") as handle:
        handle.write("three\n")
    committed += backup_ids(cli, conf, "2026-06-03")

    # what failed runs leave beside the backups: a folder of chunks without manifest.json (after kill -9), and
    # a FULL's folder whose objects were removed (some stores, SeaweedFS among them, keep listing it)
    client = s3_server.client()
    manifest = next(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"] if o["Key"].endswith(".json"))
    folder = manifest.rsplit("/", 2)[0]
    client.put_object(Bucket=bucket, Key=f"{folder}/20260604-010101-diff/chunk-000000.tar.zst.gpg", Body=b"cut off")
    client.put_object(Bucket=bucket, Key=f"{folder}/20260605-010101-full/chunk-000000.tar.zst.gpg", Body=b"gone")
    client.delete_object(Bucket=bucket, Key=f"{folder}/20260605-010101-full/chunk-000000.tar.zst.gpg")

    dest = tmp_path / "restored"
    result = run_recipe(readme_recipe(), s3_server, bucket, source, dest, gpg_keys.private_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == committed  # the listing the user sees: the three backups, nothing else
    assert [c.rsplit("-", 1)[1] for c in committed] == ["full", "diff", "diff"]
    assert_same_tree(source, str(dest) + source)
    assert not os.path.exists(str(dest) + source + "/d01/e1/f00001.txt")  # deleted on day 2, stays deleted

    # a set with no backup (a typo in SETPATH): one line, not a silent empty restore
    missing = run_recipe(readme_recipe(), s3_server, bucket, source + "-typo", tmp_path / "other" / "dest", "")
    assert missing.returncode == 1 and missing.stderr.strip().startswith(f"no backup of {source}-typo in s3://")


def test_recover_a_subversion_set_with_svnadmin_load(tmp_path, bucket, s3_server, gpg_keys, make_config, cli):
    """The README's note on dump sets: the same recipe, with svnadmin load into a new repository for tar."""
    repo, work = str(tmp_path / "repo"), str(tmp_path / "work")
    svn("svnadmin", "create", repo)
    svn("svn", "checkout", "-q", f"file://{repo}", work)
    svn_set = f"<Subversion {repo}>\n  Frequency 1\n  Diffs 7\n  Fulls 2\n</Subversion>"
    conf = make_config([], host="web1.example.com", chunk_size="64K", extra=svn_set)
    for day in ("2026-06-01", "2026-06-02"):
        for name in ("a", "b"):
            with open(os.path.join(work, f"{day}-{name}.txt"), "w") as handle:
                handle.write(name * 50_000)
            svn("svn", "add", "-q", os.path.join(work, f"{day}-{name}.txt"))
            svn("svn", "commit", "-q", "-m", f"{day} {name}", cwd=work)
        backup_ids(cli, conf, day)

    # the tar step, whole, gives way to svnadmin load; the empty folder to a new repository
    tar_step = re.search(r"\| \(cd \"\$DEST\" && tar --extract [^\n]*", readme_recipe())
    assert tar_step, "the README's recipe lost its tar step"
    recipe = readme_recipe().replace(tar_step.group(0), '| svnadmin load --quiet "$DEST"')
    assert 'mkdir -p "$DEST"' in recipe
    recipe = recipe.replace('mkdir -p "$DEST"', 'svnadmin create "$DEST"')
    dest = tmp_path / "loaded"
    result = run_recipe(recipe, s3_server, bucket, f"svn{repo}", dest, gpg_keys.private_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(result.stdout.split()) == 2  # the FULL and the DIFF
    assert svn("svnlook", "youngest", str(dest)).strip() == svn("svnlook", "youngest", repo).strip() == "4"
    dumped = svn("svnadmin", "dump", "--quiet", repo).replace(svn("svnlook", "uuid", repo), "")
    assert svn("svnadmin", "dump", "--quiet", str(dest)).replace(svn("svnlook", "uuid", str(dest)), "") == dumped


def svn(*argv: str, cwd: str | None = None) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout  # noqa: S603
