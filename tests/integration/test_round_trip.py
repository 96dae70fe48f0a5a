# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A 200 MB tree of 5,000+ files: FULL, DIFF, DIFF; restores of the latest moment, of the middle of the chain
and of the first, then partial restores of one file and of folders; every one compared entry by entry."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from support.configs import write_config
from support.trees import add_special_entries, assert_same_tree, copy_tree, describe_tree, make_tree


@pytest.mark.slow
def test_full_then_diffs_restore_every_moment_and_parts(tmp_path, bucket, s3_server, s3_key_file, gpg_keys, cli):
    source = str(tmp_path / "data")
    make_tree(source, files=5200, total_bytes=200 * 1024 * 1024)
    add_special_entries(source)
    conf = write_config(
        tmp_path / "s3napback.conf",
        bucket=bucket,
        endpoint=s3_server.endpoint,
        key_file=s3_key_file,
        diff_dir=tmp_path / "diffs",
        directories=[source],
        recipient=gpg_keys.email,
        keyring=gpg_keys.public_home,
        chunk_size="16M",
    )
    full = cli("backup", "-c", conf, "--date", "2026-03-02", "--json", check=True)
    [result] = json.loads(full.stdout)
    assert result["action"] == "FULL" and result["bytes_read"] >= 200 * 1024 * 1024
    assert result["chunks"] == -(-result["bytes_read"] // (16 * 1024 * 1024))  # ceil: every chunk is ChunkSize
    moment1 = str(tmp_path / "moment1")
    copy_tree(source, moment1)

    # changes of every kind: added, changed, deleted, renamed, mode changed, a folder removed, a link retargeted
    with open(os.path.join(source, "d01", "e1", "added.txt"), "w") as handle:
        handle.write("new on day two\n")
    with open(os.path.join(source, "d02", "e2", "f00002.txt"), "a") as handle:
        handle.write("changed on day two\n")
    os.unlink(os.path.join(source, "d03", "e3", "f00003.txt"))
    os.rename(os.path.join(source, "d04", "e4", "f00004.txt"), os.path.join(source, "d04", "e4", "renamed.txt"))
    os.chmod(os.path.join(source, "d05", "e5", "f00005.txt"), 0o640)
    shutil.rmtree(os.path.join(source, "d06", "e6"))
    os.unlink(os.path.join(source, "special", "relative-link"))
    os.symlink("../d00/e0/f00007.txt", os.path.join(source, "special", "relative-link"))
    os.rename(os.path.join(source, "d07"), os.path.join(source, "d07-renamed"))

    diff = cli("backup", "-c", conf, "--date", "2026-03-03", "--json", check=True)
    [result2] = json.loads(diff.stdout)
    assert result2["action"] == "DIFF" and result2["parent"] == result["backup_id"]
    assert result2["bytes_read"] < result["bytes_read"] / 20  # only what changed

    moment2 = str(tmp_path / "moment2")
    copy_tree(source, moment2)
    # day three: more changes, so that day two is the middle of a FULL -> DIFF -> DIFF chain
    with open(os.path.join(source, "d08", "e1", "f00008.txt"), "a") as handle:
        handle.write("changed on day three\n")
    os.unlink(os.path.join(source, "d01", "e1", "added.txt"))
    with open(os.path.join(source, "d03", "e3", "day3.txt"), "w") as handle:
        handle.write("new on day three\n")
    diff2 = cli("backup", "-c", conf, "--date", "2026-03-04", "--json", check=True)
    [result3] = json.loads(diff2.stdout)
    assert result3["action"] == "DIFF" and result3["parent"] == result2["backup_id"]

    middle = tmp_path / "restore-middle"
    cli("restore", "-c", conf, "--set", source, "--at", result2["backup_id"], "--to", middle,
        "--gnupghome", gpg_keys.private_home, check=True)  # fmt: skip
    assert_same_tree(moment2, str(middle) + source)
    assert describe_tree(moment2) != describe_tree(source)

    latest = tmp_path / "restore-latest"
    out = cli("restore", "-c", conf, "--set", source, "--to", latest, "--gnupghome", gpg_keys.private_home, check=True)
    assert result2["backup_id"] in out.stdout
    assert_same_tree(source, str(latest) + source)

    first = tmp_path / "restore-first"
    cli("restore", "-c", conf, "--set", source, "--at", "2026-03-02", "--to", first,
        "--gnupghome", gpg_keys.private_home, check=True)  # fmt: skip
    assert_same_tree(moment1, str(first) + source)
    # the two moments really differ, so the comparisons above could fail
    assert describe_tree(moment1) != describe_tree(source)
    # the sparse file came back sparse, not as 50 MB of zeros on disk
    restored_sparse = os.stat(str(latest) + source + "/special/sparse")
    assert restored_sparse.st_blocks * 512 < 1024 * 1024

    # one file out of the 200 MB FULL: only the chunk(s) holding it are downloaded, plus the member index
    wanted = "d00/e2/f00100.txt"
    one = tmp_path / "restore-one"
    out = cli("restore", "-c", conf, "--set", source, "--at", result["backup_id"], "--path", wanted, "--to", one,
              "--gnupghome", gpg_keys.private_home, "--json", check=True)  # fmt: skip
    report = json.loads(out.stdout)
    assert report["chunks"] <= 2 and report["indexes"] == 1, report
    assert report["chunks_total"] >= 13 and report["bytes_downloaded"] < report["bytes_total"] / 2
    restored = str(one) + source
    assert_same_tree(os.path.join(moment1, "d00", "e2"), os.path.join(restored, "d00", "e2"), only=["f00100.txt"])
    files = [os.path.join(d, f) for d, _dirs, names in os.walk(one) for f in names]
    assert files == [os.path.join(restored, wanted)]

    # the same file at the latest moment: the two DIFFs add their member index and folder records
    latest_one = tmp_path / "restore-one-latest"
    out = cli("restore", "-c", conf, "--set", source, "--path", wanted, "--to", latest_one,
              "--gnupghome", gpg_keys.private_home, "--json", check=True)  # fmt: skip
    report = json.loads(out.stdout)
    assert report["chunks"] <= 4 and report["indexes"] == 3, report
    assert_same_tree(os.path.join(source, "d00", "e2"), str(latest_one) + source + "/d00/e2", only=["f00100.txt"])

    # folders, at the middle moment: a file deleted by then stays deleted, one added later is not there
    part = tmp_path / "restore-part"
    cli("restore", "-c", conf, "--set", source, "--at", result2["backup_id"], "--path", "d03/e3",
        "--path", source + "/d07-renamed", "--to", part, "--gnupghome", gpg_keys.private_home, check=True)  # fmt: skip
    assert_same_tree(os.path.join(moment2, "d03", "e3"), str(part) + source + "/d03/e3")
    assert_same_tree(os.path.join(moment2, "d07-renamed"), str(part) + source + "/d07-renamed")
    assert not os.path.exists(str(part) + source + "/d03/e3/f00003.txt")  # deleted on day two
    assert sorted(os.listdir(str(part) + source)) == ["d03", "d07-renamed"]


def test_plain_chunks_without_compression_or_encryption_round_trip(tmp_path, make_config, s3_server, bucket, cli):
    """Compression none and Encryption none: the chunks are the raw tar stream and the member index is copied
    as it is; a whole restore and a one-file restore (which reads that index) both come back identical."""
    source = str(tmp_path / "data")
    make_tree(source, files=300, total_bytes=3 * 1024 * 1024)
    conf = make_config([source], chunk_size="256K", recipient=None, keyring=None,
                       extra="Compression none\nEncryption none")  # fmt: skip
    [result] = json.loads(cli("backup", "-c", conf, "--json", check=True).stdout)
    assert result["action"] == "FULL" and result["chunks"] == -(-result["bytes_read"] // (256 * 1024))
    listing = s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]
    chunks = sorted((o for o in listing if "/chunk-" in o["Key"]), key=lambda o: o["Key"])
    assert chunks and all(o["Key"].endswith(".tar") for o in chunks)
    assert sum(o["Size"] for o in chunks) == result["bytes_read"]  # stored as read: nothing added or lost

    whole = tmp_path / "restore-all"
    cli("restore", "-c", conf, "--set", source, "--to", whole, check=True)
    assert_same_tree(source, str(whole) + source)

    wanted = "d00/e2/f00100.txt"
    one = tmp_path / "restore-one"
    report = json.loads(cli("restore", "-c", conf, "--set", source, "--path", wanted, "--to", one, "--json",
                            check=True).stdout)  # fmt: skip
    assert report["indexes"] == 1 and report["chunks"] < len(chunks)
    assert_same_tree(os.path.join(source, "d00", "e2"), str(one) + source + "/d00/e2", only=["f00100.txt"])
