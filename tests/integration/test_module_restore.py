# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``s3napback.s3napback.restore`` module, run for real by ``ansible-playbook`` on localhost.

Real S3 server, real gpg keys, real tar/zstd/gpg. A FULL and a DIFF are made with the command; the module then
plans (check mode), restores with the private key given as text (imported into a temporary GnuPG home on tmpfs,
which must be gone afterwards, agent included, also when the restore fails), restores part of the set with a
GnuPG home of the host, and refuses a folder that is not empty. The key must never appear in the output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from support.ansible import Playbooks, Run
from support.configs import write_config
from support.gpgkeys import export_secret_key, kill_agent, processes_naming
from support.trees import assert_same_tree

pytestmark = pytest.mark.integration

MODULE = "s3napback.s3napback.restore"
HOST = "restore-source-host"


def make_source(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "hello.txt").write_text("Hello from the restore module.\n")
    (root / "sub" / "nested.txt").write_text("nested file\n")
    (root / "sub" / "deeper" / "deep.txt").write_text("deeper still\n")
    (root / "to-delete.txt").write_text("deleted before the DIFF\n")
    (root / "private.txt").write_text("only the owner may read this\n")
    (root / "private.txt").chmod(0o600)
    (root / "link-to-hello").symlink_to("hello.txt")
    (root / "random.bin").write_bytes(os.urandom(2 * 1024 * 1024 + 4321))  # several 1 MiB chunks


def backed_up(tmp_path: Path, cli, *, bucket, s3_server, s3_key_file, gpg_keys) -> tuple[str, Path]:
    """A config and its set, backed up as a FULL, then changed and backed up as a DIFF."""
    source = tmp_path / "source"
    make_source(source)
    conf = write_config(
        tmp_path / "s3napback.conf",
        bucket=bucket,
        endpoint=s3_server.endpoint,
        key_file=s3_key_file,
        diff_dir=tmp_path / "diffs",
        directories=[source],
        recipient=gpg_keys.email,
        keyring=gpg_keys.public_home,
        host=HOST,
    )
    cli("backup", "-c", conf, check=True)
    (source / "hello.txt").write_text("Hello again, changed after the FULL.\n")
    (source / "to-delete.txt").unlink()
    (source / "new-folder").mkdir()
    (source / "new-folder" / "new.txt").write_text("created after the FULL\n")
    cli("backup", "-c", conf, "--force", check=True)
    return conf, source


def backup_ids(cli, conf: str) -> list[str]:
    rows = json.loads(cli("list", "-c", conf, "--json", check=True).stdout)
    return [row["backup_id"] for row in rows if row["kind"] in ("FULL", "DIFF")]


def key_lines(armored: str) -> list[str]:
    """The base64 lines of the armored key's body: none of them may appear anywhere in the output."""
    return [line for line in armored.splitlines() if len(line) >= 40 and not line.startswith("-----")]


def assert_key_not_shown(run: Run, armored: str) -> None:
    for where, text in (("stdout", run.proc.stdout), ("stderr", run.proc.stderr), ("results", run.dump)):
        assert "PRIVATE KEY BLOCK-----\n" not in text, f"the armored key appears in the ansible-playbook {where}"
        for line in key_lines(armored):
            assert line not in text, f"a line of the private key appears in the ansible-playbook {where}"


def assert_key_home_gone(home: str) -> None:
    assert home.startswith(("/dev/shm/s3napback-gnupg-", "/run/s3napback-gnupg-")), home
    assert not os.path.lexists(home), f"the temporary GnuPG home {home} was left behind"
    assert processes_naming(home) == [], f"a process still runs for {home}"


def test_restore_module(tmp_path, cli, s3_server, bucket, gpg_keys, s3_key_file):
    conf, source = backed_up(
        tmp_path, cli, bucket=bucket, s3_server=s3_server, s3_key_file=s3_key_file, gpg_keys=gpg_keys
    )
    full_id, diff_id = backup_ids(cli, conf)
    assert full_id.endswith("-full") and diff_id.endswith("-diff")
    armored = export_secret_key(gpg_keys)
    assert len(key_lines(armored)) >= 3
    playbooks = Playbooks(tmp_path / "ansible", MODULE)
    dest = tmp_path / "restored"
    inside = Path(str(source).lstrip("/"))  # the restore recreates the set's path under dest

    # (a) check mode: the target and its chain, from the catalog; nothing downloaded, no key imported, no folder
    args = {"config": conf, "set": str(source) + "/", "dest": str(dest), "private_key": armored}
    run = playbooks.run([{"args": args, "check_mode": True}])
    assert run.proc.returncode == 0, run.output()
    (plan,) = run.results
    assert plan["changed"] is True
    assert (plan["set"], plan["host"]) == (str(source), HOST)
    assert (plan["target"], plan["chain"]) == (diff_id, [full_id, diff_id])
    assert (plan["bytes_downloaded"], plan["chunks"], plan["bytes_written"]) == (0, 0, 0)
    assert plan["bytes_total"] > 2 * 1024 * 1024 and plan["chunks_total"] >= 4
    assert "temporary_gnupghome" not in plan
    assert not dest.exists()
    assert_key_not_shown(run, armored)

    # (b) the real restore with the key as text, at -vvvv (which shows the module's arguments)
    run = playbooks.run([{"args": args}], verbosity="-vvvv")
    assert run.proc.returncode == 0, run.output()
    (restored,) = run.results
    assert restored["changed"] is True
    assert (restored["target"], restored["chain"]) == (diff_id, [full_id, diff_id])
    assert restored["destination"] == str(dest)
    # a whole restore downloads every chunk of the chain, and not the two member indexes
    assert restored["bytes_total"] == plan["bytes_total"]
    assert 2 * 1024 * 1024 < restored["bytes_downloaded"] < restored["bytes_total"]
    assert restored["chunks"] + 2 == restored["chunks_total"] == plan["chunks_total"]
    assert (restored["indexes"], restored["members"]) == (0, None)
    assert "warnings" not in restored
    assert_key_home_gone(restored["temporary_gnupghome"])
    assert_same_tree(str(source), str(dest / inside))
    assert not (dest / inside / "to-delete.txt").exists()
    assert_key_not_shown(run, armored)

    # (c) a partial restore of one folder at the FULL, with a GnuPG home of the host that holds the key
    partial = tmp_path / "partial"
    run = playbooks.run(
        [
            {
                "args": {
                    "config": conf,
                    "set": str(source),
                    "at": full_id,
                    "paths": ["sub", "no-such-file"],
                    "dest": str(partial),
                    "gnupghome": gpg_keys.private_home,
                }
            }
        ]
    )
    kill_agent(gpg_keys.private_home)
    assert run.proc.returncode == 0, run.output()
    (part,) = run.results
    assert part["changed"] is True
    assert (part["target"], part["chain"], part["paths"]) == (full_id, [full_id], ["sub", "no-such-file"])
    assert f"[WARNING]: {source}: " in run.proc.stderr
    assert "/no-such-file did not exist at that moment" in run.proc.stderr
    assert part["members"] == 4  # sub, sub/nested.txt, sub/deeper, sub/deeper/deep.txt
    assert part["indexes"] == 1
    assert part["bytes_downloaded"] < part["bytes_total"]  # not the chunks of random.bin
    assert "temporary_gnupghome" not in part
    assert sorted(os.listdir(partial / inside)) == ["sub"]
    assert_same_tree(str(source / "sub"), str(partial / inside / "sub"))

    # (d) failures, each one line: a folder that is not empty (the key home is removed all the same), the key and
    # a GnuPG home at once, a key that is not an armored private key, a moment older than every backup
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "precious").write_text("keep me\n")
    run = playbooks.run(
        [
            {"args": {**args, "dest": str(occupied)}, "ignore_errors": True},
            {"args": {**args, "gnupghome": gpg_keys.private_home}, "ignore_errors": True},
            {"args": {**args, "private_key": gpg_keys.public_armored}, "ignore_errors": True},
            {"args": {**args, "at": "2001-01-01", "dest": str(tmp_path / "old")}, "ignore_errors": True},
        ],
        verbosity="-vvv",
    )
    assert run.proc.returncode == 0, run.output()  # every error ignored
    not_empty, both, public, too_old = run.results
    assert not_empty["failed"] is True
    assert not_empty["msg"] == (
        f"destination {occupied} is not empty; choose an empty or new folder, or overwrite it on purpose"
    )
    assert_key_home_gone(not_empty["temporary_gnupghome"])
    assert sorted(os.listdir(occupied)) == ["precious"]
    assert both["failed"] is True and "mutually exclusive" in both["msg"]
    assert public["failed"] is True
    assert public["msg"] == "private_key: expected an ASCII-armored private key (-----BEGIN PGP PRIVATE KEY BLOCK-----)"
    assert too_old["failed"] is True and "no backup of this set is as old as 2001-01-01" in too_old["msg"]
    assert_key_home_gone(too_old["temporary_gnupghome"])
    assert not (tmp_path / "old").exists()
    for result in run.results:
        assert "\n" not in result["msg"]
        assert "Traceback" not in result.get("exception", "")
    assert_key_not_shown(run, armored)

    # (e) check mode makes the checks a restore makes before it downloads: --load of a directory set fails there
    fresh = tmp_path / "load-check"
    load_args = {**args, "load": True, "dest": str(fresh)}
    run = playbooks.run([{"args": load_args, "check_mode": True, "ignore_errors": True}])
    (load,) = run.results
    # in the module's words: its option, not the command's flag
    assert load["failed"] is True and load["msg"].startswith("load is for dumps (Subversion, PostgreSQL, MySQL)")
    assert not fresh.exists()

    # (f) damage in the DIFF with salvage: the task fails, but what came before the damage is in dest: a change
    client = s3_server.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    damaged = next(key for key in keys if f"/{diff_id}/chunk-" in key)
    body = bytearray(client.get_object(Bucket=bucket, Key=damaged)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    client.put_object(Bucket=bucket, Key=damaged, Body=bytes(body))
    salvaged = tmp_path / "salvaged"
    run = playbooks.run([{"args": {**args, "dest": str(salvaged), "salvage": True}, "ignore_errors": True}])
    (kept,) = run.results
    assert kept["failed"] is True and kept["changed"] is True, kept
    assert "; salvage kept what came before it in " in kept["msg"] and "--" not in kept["msg"]
    assert (salvaged / inside / "sub").is_dir()  # the FULL's files
    assert_key_home_gone(kept["temporary_gnupghome"])
