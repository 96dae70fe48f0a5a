# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Subversion repositories against real svnadmin: a FULL and a chain of incremental dumps, restored into new
repositories whose dumps equal the originals'; a SubversionDir of three repositories; a failing dumper."""

from __future__ import annotations

import json
import os
import shutil
import subprocess


def svn(*argv: str, cwd: str | None = None) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout  # noqa: S603


def make_repo(path: str, work: str, revisions: int) -> None:
    svn("svnadmin", "create", path)
    svn("svn", "checkout", "-q", f"file://{path}", work)
    for revision in range(revisions):
        commit(work, f"r{revision}")


def commit(work: str, text: str) -> None:
    with open(os.path.join(work, "file.txt"), "a") as handle:
        handle.write(text + "\n")
    with open(os.path.join(work, f"{text}.txt"), "w") as handle:
        handle.write(text * 100)
    svn("svn", "add", "-q", "--force", ".", cwd=work)
    svn("svn", "commit", "-q", "-m", f"commit {text}", cwd=work)


def dump(path: str) -> str:
    return svn("svnadmin", "dump", "--quiet", path)


def svn_conf(make_config, sets: str) -> str:
    conf = make_config(chunk_size="64K")
    with open(conf, "a") as handle:
        handle.write(sets)
    return conf


def test_full_and_incremental_dumps_restore_into_a_new_repository(
    cli, tmp_path, s3_server, bucket, gpg_keys, make_config
):
    repo, work = str(tmp_path / "repo"), str(tmp_path / "work")
    make_repo(repo, work, 5)
    conf = svn_conf(make_config,
                    f"<Subversion {repo}>\n  Frequency 1\n  Diffs 7\n  Fulls 2\n</Subversion>\n")  # fmt: skip
    days = ["2026-01-05", "2026-01-06", "2026-01-07"]
    results = []
    dumps = []
    for index, day in enumerate(days):
        if index:
            commit(work, f"day{index}-a")
            commit(work, f"day{index}-b")
        [result] = json.loads(cli("backup", "-c", conf, "--date", day, "--json", check=True).stdout)
        results.append(result)
        dumps.append(dump(repo))
    assert [r["action"] for r in results] == ["FULL", "DIFF", "DIFF"]
    assert results[2]["bytes_read"] < results[0]["bytes_read"]  # only the new revisions

    # the latest moment, and the middle of the chain, loaded into new repositories
    for moment, expected in ((results[2]["backup_id"], dumps[2]), (results[1]["backup_id"], dumps[1])):
        target = str(tmp_path / f"restored-{moment}")
        out = cli("restore", "-c", conf, "--set", f"svn{repo}", "--at", moment, "--to", target,
                  "--load", "--gnupghome", gpg_keys.private_home, check=True)  # fmt: skip
        assert moment in out.stdout
        assert dump(target).replace(svn("svnlook", "uuid", target), "") == expected.replace(
            svn("svnlook", "uuid", repo), ""
        )

    # verify with the private key decrypts and decompresses every dump
    [report] = json.loads(cli("verify", "-c", conf, "--gnupghome", gpg_keys.private_home, "--json", check=True).stdout)
    assert report["status"] == "ok" and len(report["good"]) == 3

    # or as dump files, one per backup of the chain, that svnadmin load takes in order
    files = tmp_path / "dumps"
    cli("restore", "-c", conf, "--set", f"svn{repo}", "--to", files, "--gnupghome", gpg_keys.private_home,
        check=True)  # fmt: skip
    names = sorted(os.listdir(files))
    assert len(names) == 3 and all(n.endswith(".svndump") for n in names)
    manual = str(tmp_path / "manual")
    svn("svnadmin", "create", manual)
    for name in names:
        with open(files / name, "rb") as handle:
            subprocess.run(["svnadmin", "load", "--quiet", manual], stdin=handle, check=True)  # noqa: S603,S607
    assert svn("svnlook", "youngest", manual).strip() == svn("svnlook", "youngest", repo).strip() == "9"


def test_subversion_dir_backs_up_every_repository_and_reports_vanished_ones(
    cli, tmp_path, s3_server, bucket, gpg_keys, make_config
):
    parent = tmp_path / "repos"
    parent.mkdir()
    for name, revisions in (("alpha", 2), ("beta", 3), ("gamma", 1)):
        make_repo(str(parent / name), str(tmp_path / f"work-{name}"), revisions)
    (parent / "not-a-repo").mkdir()
    conf = svn_conf(make_config,
                    f"<SubversionDir {parent}>\n  Frequency 1\n  Fulls 2\n</SubversionDir>\n")  # fmt: skip
    results = json.loads(cli("backup", "-c", conf, "--date", "2026-01-05", "--json", check=True).stdout)
    assert sorted(r["set"] for r in results) == [f"svn{parent}/{n}" for n in ("alpha", "beta", "gamma")]
    assert {r["action"] for r in results} == {"FULL"}
    for name in ("alpha", "beta", "gamma"):
        target = str(tmp_path / f"restored-{name}")
        cli("restore", "-c", conf, "--set", f"svn{parent}/{name}", "--to", target, "--load",
            "--gnupghome", gpg_keys.private_home, check=True)  # fmt: skip
        assert svn("svnlook", "youngest", target) == svn("svnlook", "youngest", str(parent / name))

    # a repository that vanished is reported; a new one is picked up
    shutil.rmtree(parent / "gamma")
    make_repo(str(parent / "delta"), str(tmp_path / "work-delta"), 1)
    results = json.loads(cli("backup", "-c", conf, "--date", "2026-01-06", "--json", check=True).stdout)
    by_set = {r["set"]: r for r in results}
    assert by_set[f"svn{parent}/delta"]["action"] == "FULL"
    warnings = [w for r in results for w in r["warnings"]]
    assert any("gamma" in w and "no longer" in w for w in warnings), warnings


def test_a_failing_dumper_commits_nothing(cli, tmp_path, s3_server, bucket, make_config):
    repo, work = str(tmp_path / "repo"), str(tmp_path / "work")
    make_repo(repo, work, 2)
    conf = svn_conf(make_config,
                    f"<Subversion {repo}>\n  Frequency 1\n  Fulls 2\n</Subversion>\n")  # fmt: skip
    revs = os.path.join(repo, "db", "revs", "0", "1")
    os.chmod(revs, 0)  # svnadmin cannot read revision 1: it fails in the middle of the dump
    try:
        if os.geteuid() == 0:  # root reads anything: damage the revision instead
            os.chmod(revs, 0o644)
            with open(revs, "r+b") as handle:
                handle.write(b"garbage garbage garbage")
        result = cli("backup", "-c", conf, "--date", "2026-01-05", "--json")
    finally:
        os.chmod(revs, 0o644)
    assert result.returncode == 1
    [entry] = json.loads(result.stdout)
    assert entry["action"] == "FAILED" and "svnadmin" in entry["error"]
    listing = s3_server.client().list_objects_v2(Bucket=bucket)
    assert not [o for o in listing.get("Contents", []) if o["Key"].endswith("manifest.json")]


def test_quiet_days_rollbacks_and_a_missing_subversion_dir(cli, tmp_path, s3_server, bucket, gpg_keys, make_config):
    """Found by an audit: a DIFF of a day without commits was an empty file, which svnadmin load refuses, so the
    whole chain could not be loaded; a repository rolled back and committed past its backup got a DIFF of the
    new revisions on top of the old ones; a SubversionDir that cannot be listed stopped every set."""
    repo, work = str(tmp_path / "repo"), str(tmp_path / "work")
    make_repo(repo, work, 3)
    missing = tmp_path / "no-such-folder"
    conf = svn_conf(make_config, f"<Subversion {repo}>\n  Frequency 1\n  Diffs 7\n  Fulls 2\n</Subversion>\n"
                    f"<SubversionDir {missing}>\n  Frequency 1\n  Fulls 2\n</SubversionDir>\n")  # fmt: skip

    def backup(day: str) -> dict:
        results = json.loads(cli("backup", "-c", conf, "--date", day, "--json").stdout)
        by_set = {r["set"]: r for r in results}
        assert by_set[f"svn{missing}"]["action"] == "FAILED"
        assert "cannot list it: No such file or directory" in by_set[f"svn{missing}"]["error"]
        return by_set[f"svn{repo}"]

    assert backup("2026-01-08")["action"] == "FULL"  # 2026-01-08 starts a cycle of 7 days
    quiet = backup("2026-01-09")  # nothing committed
    assert quiet["action"] == "DIFF"
    commit(work, "day3")
    assert backup("2026-01-10")["action"] == "DIFF"
    target = str(tmp_path / "loaded")
    cli("restore", "-c", conf, "--set", f"svn{repo}", "--to", target, "--load", "--gnupghome", gpg_keys.private_home,
        check=True)  # fmt: skip
    assert dump(target).replace(svn("svnlook", "uuid", target), "") == dump(repo).replace(
        svn("svnlook", "uuid", repo), ""
    )

    # rolled back to r2 from a dump (same UUID), then two new commits: r4 is not the r4 backed up
    old = str(tmp_path / "old.dump")
    with open(old, "w") as handle:
        handle.write(svn("svnadmin", "dump", "--quiet", "-r", "0:2", repo))
    uuid = svn("svnlook", "uuid", repo).strip()
    shutil.rmtree(repo)
    shutil.rmtree(work)
    svn("svnadmin", "create", repo)
    with open(old, "rb") as handle:
        subprocess.run(["svnadmin", "load", "--quiet", repo], stdin=handle, check=True)  # noqa: S603,S607
    assert svn("svnlook", "uuid", repo).strip() == uuid
    svn("svn", "checkout", "-q", f"file://{repo}", work)
    commit(work, "after-a")
    commit(work, "after-b")
    assert svn("svnlook", "youngest", repo).strip() == "4"
    after = backup("2026-01-11")
    assert after["action"] == "FULL" and "revision 4 is not the one backed up" in after["reason"], after
