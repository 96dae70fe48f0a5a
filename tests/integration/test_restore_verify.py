# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Damage in the bucket: `verify` reports it, `restore` refuses it with the object named and writes nothing,
`--salvage` keeps what came before it; hostile archives never write outside the destination; --overwrite."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import subprocess
import tarfile

import pytest

from _s3napback.catalog import Chunk, Manifest
from support.cli import one_line_error
from support.trees import assert_same_tree

CHUNK = 256 * 1024


@pytest.fixture
def data(tmp_path):
    """Twelve incompressible files of 100 KiB: about five chunks of 256 KiB, most files inside one chunk."""
    source = tmp_path / "data"
    source.mkdir()
    rng = random.Random(7)
    for index in range(12):
        (source / f"file{index:02d}.bin").write_bytes(rng.randbytes(100 * 1024))
    return str(source)


@pytest.fixture
def conf(make_config, data):
    return make_config([data], chunk_size="256K")


def chunk_keys(s3_server, bucket):
    listing = s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]
    return sorted(o["Key"] for o in listing if "/chunk-" in o["Key"])


def flip_byte(s3_server, bucket, key):
    client = s3_server.client()
    body = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0x01
    client.put_object(Bucket=bucket, Key=key, Body=bytes(body))


def test_flipped_byte_reported_by_verify_refused_by_restore_and_salvaged(
    cli, tmp_path, s3_server, bucket, gpg_keys, data, conf
):
    cli("backup", "-c", conf, check=True)
    keys = chunk_keys(s3_server, bucket)
    assert len(keys) >= 4
    damaged = keys[2]
    flip_byte(s3_server, bucket, damaged)
    name = os.path.basename(damaged)

    # the cheap check sees sizes only: a flipped byte passes it, reading the data does not
    assert cli("verify", "-c", conf).returncode == 0
    result = cli("verify", "-c", conf, "--read-data", "--json")
    assert result.returncode == 1
    [report] = json.loads(result.stdout)
    assert report["status"] == "broken" and report["last_good"] is None
    assert [p for p in report["problems"] if name in p and "SHA-256" in p], report["problems"]

    # restore names the chunk, and the destination is left as it was: absent, or empty
    new = tmp_path / "new"
    line = one_line_error(cli("restore", "-c", conf, "--set", data, "--to", new, "--gnupghome", gpg_keys.private_home))
    assert name in line and "SHA-256" in line
    assert not new.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(cli("restore", "-c", conf, "--set", data, "--to", empty, "--gnupghome", gpg_keys.private_home))
    assert os.listdir(empty) == []

    # --salvage keeps the whole files before the damage, and only those
    saved = tmp_path / "saved"
    line = one_line_error(
        cli("restore", "-c", conf, "--set", data, "--to", saved, "--gnupghome", gpg_keys.private_home, "--salvage")
    )
    assert name in line and "--salvage kept" in line
    restored = str(saved) + data
    files = sorted(os.listdir(restored))
    assert 1 <= len(files) < 12
    for file in files:  # every file that is there is whole
        with open(os.path.join(restored, file), "rb") as got, open(os.path.join(data, file), "rb") as want:
            assert got.read() == want.read(), file
    assert not [n for n in os.listdir(saved) if n.startswith(".s3napback-restore-")]


def test_verify_reports_missing_objects_stale_sets_and_sets_without_backups(
    cli, tmp_path, s3_server, bucket, gpg_keys, data, conf
):
    cli("backup", "-c", conf, "--date", "2026-01-05", check=True)
    with open(os.path.join(data, "file00.bin"), "ab") as handle:
        handle.write(b"more")
    cli("backup", "-c", conf, "--date", "2026-01-06", check=True)
    ok = json.loads(cli("verify", "-c", conf, "--json", "--stale-hours", "48", check=True).stdout)
    assert [r["status"] for r in ok] == ["ok"] and len(ok[0]["good"]) == 2

    stale = cli("verify", "-c", conf, "--stale-hours", "0")
    assert stale.returncode == 1 and "STALE" in stale.stdout

    # a set in the config with nothing in the bucket is missing
    other = tmp_path / "other"
    other.mkdir()
    with open(conf, "a") as handle:
        handle.write(f"<Directory {other}>\n  Frequency 1\n  Diffs 7\n  Fulls 2\n</Directory>\n")
    reports = {r["set"]: r for r in json.loads(cli("verify", "-c", conf, "--json").stdout)}
    assert reports[str(other)]["status"] == "missing"

    # delete a chunk of the FULL: both backups depend on it, so nothing is good any more
    client = s3_server.client()
    full_chunk = next(k for k in chunk_keys(s3_server, bucket) if "-full/" in k)
    client.delete_object(Bucket=bucket, Key=full_chunk)
    result = cli("verify", "-c", conf, "--set", data, "--json")
    assert result.returncode == 1
    [report] = json.loads(result.stdout)
    assert report["status"] == "broken" and report["good"] == []
    assert any(os.path.basename(full_chunk) in p and "missing" in p for p in report["problems"])


def test_verify_and_list_report_every_set_when_one_manifest_cannot_be_read(
    cli, tmp_path, s3_server, bucket, gpg_keys, data, conf
):
    """An unreadable manifest used to stop verify and list for every set, with one line and nothing else."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "f").write_text("f")
    with open(conf, "a") as handle:
        handle.write(f"<Directory {other}>\n  Frequency 1\n  Diffs 7\n  Fulls 2\n</Directory>\n")
    for day in ("2026-01-05", "2026-01-06", "2026-01-07"):
        (other / "f").write_text(day)
        cli("backup", "-c", conf, "--date", day, check=True)
    client = s3_server.client()
    listing = client.list_objects_v2(Bucket=bucket)["Contents"]
    manifests = {  # key -> (set, kind)
        o["Key"]: (m["set"], m["kind"])
        for o in listing
        if o["Key"].endswith("/manifest.json")
        for m in [json.loads(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())]
    }
    [broken] = [k for k, (name, kind) in manifests.items() if name == data and kind == "FULL"]
    client.put_object(Bucket=bucket, Key=broken, Body=b"{not json")
    result = cli("verify", "-c", conf, "--json")
    assert result.returncode == 1, result.stderr
    reports = {r["set"]: r for r in json.loads(result.stdout)}
    assert reports[str(other)]["status"] == "ok"
    assert reports[data]["status"] == "broken" and "unreadable manifest" in reports[data]["problems"][0]
    listed = cli("list", "-c", conf)
    assert listed.returncode == 1 and f"{data}:\n  cannot be listed: " in listed.stdout
    assert "  restorable to 3 moments, from " in listed.stdout  # the other set is listed all the same

    # a DIFF whose base is gone: the later DIFFs name that same missing link, said once
    middle = min(k for k, (name, kind) in manifests.items() if name == str(other) and kind == "DIFF")
    client.delete_object(Bucket=bucket, Key=middle)
    [report] = json.loads(cli("verify", "-c", conf, "--set", str(other), "--json").stdout)
    assert report["status"] == "broken" and len(report["problems"]) == len(set(report["problems"])) == 1


def test_verify_with_the_private_key_reads_every_archive(
    cli, tmp_path, s3_server, bucket, gpg_keys, gpg_keypair_factory, data, conf
):
    cli("backup", "-c", conf, check=True)
    out = cli("verify", "-c", conf, "--gnupghome", gpg_keys.private_home, "--json", check=True)
    [report] = json.loads(out.stdout)
    assert report["status"] == "ok" and report["level"] == "archive"
    stranger = gpg_keypair_factory("stranger@s3napback.invalid")
    result = cli("verify", "-c", conf, "--gnupghome", stranger.private_home, "--json")
    assert result.returncode == 1
    [report] = json.loads(result.stdout)
    assert report["status"] == "broken" and "private key" in " ".join(report["problems"])


def test_list_shows_chains_ages_and_restorable_moments(cli, tmp_path, s3_server, bucket, gpg_keys, data, conf):
    cli("backup", "-c", conf, "--date", "2026-01-05", check=True)
    cli("backup", "-c", conf, "--date", "2026-01-06", check=True)
    rows = json.loads(cli("list", "-c", conf, "--json", check=True).stdout)
    full, diff = rows
    assert full["kind"] == "FULL" and diff["kind"] == "DIFF"
    assert diff["chain"] == [full["backup_id"], diff["backup_id"]] and diff["restorable"]
    assert 0 <= diff["age_hours"] < 1 and diff["partial_restore"]
    text = cli("list", "-c", conf, check=True).stdout
    assert "restorable to 2 moments" in text


def test_overwrite_replaces_files_and_keeps_what_the_backup_does_not_hold(
    cli, tmp_path, s3_server, bucket, gpg_keys, data, conf
):
    cli("backup", "-c", conf, check=True)
    target = tmp_path / "live"
    first = cli("restore", "-c", conf, "--set", data, "--to", target, "--gnupghome", gpg_keys.private_home)
    assert first.returncode == 0, first.stderr
    (target / "unrelated.txt").write_text("not in any backup")
    restored = str(target) + data
    with open(os.path.join(restored, "file03.bin"), "wb") as handle:
        handle.write(b"damaged by a user")
    refused = cli("restore", "-c", conf, "--set", data, "--to", target, "--gnupghome", gpg_keys.private_home)
    assert "not empty" in one_line_error(refused)
    cli("restore", "-c", conf, "--set", data, "--to", target, "--gnupghome", gpg_keys.private_home,
        "--overwrite", check=True)  # fmt: skip
    assert_same_tree(data, restored)
    assert (target / "unrelated.txt").read_text() == "not in any backup"


def _hostile_archive(outside: str) -> bytes:
    """Members that try to leave the destination: '..', an absolute name, a symlink then a file through it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:

        def add(name: str, payload: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = link
            info.size = len(payload) if kind == tarfile.REGTYPE else 0
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(payload) if kind == tarfile.REGTYPE else None)

        add("ok.txt", b"harmless\n")
        add("../escape-dotdot.txt", b"escaped\n")
        add(os.path.join(outside, "escape-absolute.txt"), b"escaped\n")
        add("link", kind=tarfile.SYMTYPE, link=outside)
        add("link/escape-through-link.txt", b"escaped\n")
    return buffer.getvalue()


def test_hostile_members_never_write_outside_the_destination(
    cli, tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data, conf
):
    """A bucket the attacker could write to: a committed backup whose archive tries to escape."""
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = _hostile_archive(str(outside))
    encrypted = subprocess.run(  # noqa: S603
        [
            "bash",
            "-o",
            "pipefail",
            "-c",
            f"zstd -q -c | gpg --homedir {gpg_keys.public_home} --batch "
            f"--trust-model always --compress-algo none -e -r {gpg_keys.email}",
        ],  # fmt: skip
        input=archive,
        capture_output=True,
        check=True,
    ).stdout
    host, set_name, backup_id = "test-host", data, "20260105-000000-full"
    from _s3napback.catalog import set_prefix  # noqa: PLC0415

    folder = set_prefix("", host, set_name) + backup_id + "/"
    chunk = Chunk(0, "chunk-000000.tar.zst.gpg", 0, len(archive), len(encrypted), hashlib.sha256(encrypted).hexdigest())
    manifest = Manifest(
        backup_id=backup_id, set=set_name, host=host, kind="FULL", source_kind="directory", source=set_name,
        seq=1, period=0, slot=0, day="2026-01-05", started="2026-01-05T00:00:00Z", finished="2026-01-05T00:00:01Z",
        parent=None, full=backup_id, chunks=(chunk,), bytes_read=len(archive), bytes_stored=len(encrypted),
        compression="zstd", compression_level=3, encryption="gpg", recipients=(gpg_keys.fingerprint,),
        snapshot_sha256=None, tool_version="test",
    )  # fmt: skip
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key=folder + chunk.key, Body=encrypted)
    client.put_object(Bucket=bucket, Key=folder + "manifest.json", Body=manifest.to_json())

    destination = tmp_path / "restore" / "here"
    cli("restore", "-c", conf, "--set", data, "--to", destination, "--gnupghome", gpg_keys.private_home)
    assert os.listdir(outside) == []
    assert not (tmp_path / "restore" / "escape-dotdot.txt").exists()
    assert not (destination.parent / "escape-dotdot.txt").exists()
    for dirpath, _dirs, files in os.walk(tmp_path):
        assert "escape-dotdot.txt" not in files or str(dirpath).startswith(str(destination)), dirpath


def test_a_lost_manifest_in_a_chain_is_named_and_its_objects_kept(cli, s3_server, bucket, data, conf):
    """A folder without a manifest that a committed DIFF builds on is no failed run's: the next backup used to
    delete it as one, and its mail said OK."""
    for day in ("2026-01-05", "2026-01-06", "2026-01-07"):
        with open(os.path.join(data, "file00.bin"), "ab") as handle:
            handle.write(day.encode())
        cli("backup", "-c", conf, "--date", day, check=True)
    client = s3_server.client()
    first_diff = min(k for k in keys_of(client, bucket) if "-diff/" in k and k.endswith("/manifest.json"))
    folder = first_diff.rsplit("/", 1)[0] + "/"
    client.delete_object(Bucket=bucket, Key=first_diff)
    lost_id = folder.rstrip("/").rsplit("/", 1)[-1]
    listed = cli("list", "-c", conf).stdout
    assert f"{lost_id:<28} (manifest lost: the backups built on it cannot be restored; kept with them)" in listed
    rows = json.loads(cli("list", "-c", conf, "--json", check=True).stdout)
    assert [r["kind"] for r in rows if r["backup_id"] == lost_id] == ["LOST"]
    [result] = json.loads(cli("backup", "-c", conf, "--date", "2026-01-08", "--json", check=True).stdout)
    assert result["leftovers_removed"] == []
    assert any(lost_id in warning and "lost its manifest" in warning for warning in result["warnings"])
    assert any(k.startswith(folder) and "/chunk-" in k for k in keys_of(client, bucket))


def keys_of(client, bucket):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
