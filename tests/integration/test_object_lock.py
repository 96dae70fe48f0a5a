# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Immutable backups on the local S3 server's Object Lock (SeaweedFS supports it, with versioning): a locked
backup cannot be deleted with the host's own credentials before its retain-until date, rotation keeps it and
says so, and retires backups whose lock expired by deleting every version of their objects."""

from __future__ import annotations

import datetime
import json
import secrets

import pytest
from botocore.exceptions import ClientError

from support.trees import make_tree

TODAY = datetime.datetime.now(datetime.timezone.utc).date()


def day(offset: int) -> str:
    return (TODAY + datetime.timedelta(days=offset)).isoformat()


@pytest.fixture
def locked_bucket(s3_server):
    client = s3_server.client()
    name = "s3nb-lock-" + secrets.token_hex(6)
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    yield name
    versions = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in all_versions(client, name)]
    if versions:  # governance mode: the test's own cleanup may bypass it, as an administrator could
        client.delete_objects(Bucket=name, Delete={"Objects": versions}, BypassGovernanceRetention=True)
    client.delete_bucket(Bucket=name)


def all_versions(client, bucket: str, prefix: str = "") -> list[dict]:
    listed = client.list_object_versions(Bucket=bucket, Prefix=prefix)
    return listed.get("Versions", []) + listed.get("DeleteMarkers", [])


def backup(cli, conf: str, when: str) -> dict:
    [result] = json.loads(cli("backup", "-c", conf, "--date", when, "--json", check=True).stdout)
    return result


def test_a_locked_backup_outlives_rotation_and_the_hosts_own_delete(
    cli, s3_server, locked_bucket, make_config, tmp_path
):
    source = tmp_path / "data"
    make_tree(source, files=5, total_bytes=50_000)
    conf = make_config(
        [source], bucket=locked_bucket, timing="Frequency 1\n    Diffs 1\n    Fulls 1", extra="ObjectLock governance 0"
    )
    client = s3_server.client()  # the same access key as the host's S3KeyFile

    # Backups of days long past: their retain-until has passed, so they are not locked, and the rotation
    # deletes every version of the one it retires (nothing is left hidden behind delete markers).
    old = backup(cli, conf, day(-10))
    assert old["action"] == "FULL" and old["retired"] == [] and old["locked"] == []
    old_folder = prefix_of(client, locked_bucket, old["backup_id"])
    assert len(all_versions(client, locked_bucket, old_folder)) >= 3  # chunk, index, manifest
    newer = backup(cli, conf, day(-9))
    assert newer["retired"] == [old["backup_id"]] and newer["locked"] == []
    assert all_versions(client, locked_bucket, old_folder) == []

    # Today's backup: with one slot, the policy may retire it tomorrow, so it is locked until tomorrow 00:00 UTC.
    today = backup(cli, conf, day(0))
    assert today["retired"] == [newer["backup_id"]]
    keys = [v["Key"] for v in all_versions(client, locked_bucket, prefix_of(client, locked_bucket, today["backup_id"]))]
    assert any(k.endswith("manifest.json") for k in keys) and any("/chunk-" in k for k in keys)
    tomorrow = datetime.datetime.combine(TODAY + datetime.timedelta(days=1), datetime.time(), datetime.timezone.utc)
    for key in keys:
        retention = client.get_object_retention(Bucket=locked_bucket, Key=key)["Retention"]
        assert retention["Mode"] == "GOVERNANCE" and retention["RetainUntilDate"] == tomorrow
    manifest_key = next(k for k in keys if k.endswith("manifest.json"))
    version = client.head_object(Bucket=locked_bucket, Key=manifest_key)["VersionId"]
    with pytest.raises(ClientError) as denied:
        client.delete_object(Bucket=locked_bucket, Key=manifest_key, VersionId=version)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    refused = client.delete_objects(
        Bucket=locked_bucket, Delete={"Objects": [{"Key": k, "VersionId": version} for k in [manifest_key]]}
    )
    assert [e["Code"] for e in refused.get("Errors", [])] == ["AccessDenied"]
    assert client.head_object(Bucket=locked_bucket, Key=manifest_key, VersionId=version)["ContentLength"] > 0

    # Tomorrow's run: the policy retires today's backup, but its lock still holds (in real time): it is kept,
    # reported, and still restorable; the set holds one backup more than its slot, for as long as the lock.
    later = backup(cli, conf, day(1))
    assert later["retired"] == [] and later["locked"] == [today["backup_id"]]
    assert later["after"]["restorable"] == [day(0), day(1)]
    listed = json.loads(cli("list", "-c", conf, "--json", check=True).stdout)
    assert [row["backup_id"] for row in listed] == [today["backup_id"], later["backup_id"]]
    test_run = json.loads(cli("backup", "-c", conf, "--date", day(2), "-t", "--json", check=True).stdout)[0]
    # (tomorrow's backup is locked until the day after, in real time: so both stay)
    assert test_run["locked"] == [today["backup_id"], later["backup_id"]] and test_run["retired"] == []


def prefix_of(client, bucket: str, backup_id: str) -> str:
    """The folder of a backup in the bucket (host and set name come before it)."""
    [folder] = {
        e["Key"].split(f"/{backup_id}/")[0] for e in all_versions(client, bucket) if f"/{backup_id}/" in e["Key"]
    }
    return f"{folder}/{backup_id}/"


def test_storage_class_per_set_and_for_archived_hanoi_discs(cli, s3_server, bucket, make_config, tmp_path):
    source = tmp_path / "data"
    make_tree(source, files=3, total_bytes=20_000)
    conf = make_config(
        [source],
        timing="CycleType HanoiCycle\n    Frequency 1\n    Discs 2\n    ArchiveOldestDisc yes\n"
        "    StorageClass STANDARD_IA\n    ArchiveStorageClass ONEZONE_IA",
    )
    client = s3_server.client()
    made = {}
    for offset in range(4):  # periods alternate between disc 0 and disc 1, the last, which is archived
        result = backup(cli, conf, day(-10 + offset))
        made[result["backup_id"]] = result["slot"]
    assert sorted(made.values()) == [0, 0, 1, 1]
    disc_0 = max(b for b, slot in made.items() if slot == 0)  # ids start with the day: the newest on disc 0
    for backup_id, slot in made.items():
        if slot == 0 and backup_id != disc_0:
            continue  # disc 0's older backup was retired
        folder = prefix_of(client, bucket, backup_id)
        chunk = next(o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=folder)["Contents"]
                     if "/chunk-" in o["Key"])  # fmt: skip
        expected = "ONEZONE_IA" if slot == 1 else "STANDARD_IA"
        assert client.head_object(Bucket=bucket, Key=chunk).get("StorageClass") == expected
        manifest = json.loads(client.get_object(Bucket=bucket, Key=folder + "manifest.json")["Body"].read())
        assert manifest["storage_class"] == expected and manifest["retain_until"] is None
    kept = {row["backup_id"] for row in json.loads(cli("list", "-c", conf, "--json", check=True).stdout)}
    assert kept == {b for b, slot in made.items() if slot == 1} | {disc_0}  # the archive, and disc 0


def test_check_refuses_object_lock_on_a_bucket_without_it(cli, bucket, locked_bucket, make_config, tmp_path):
    source = tmp_path / "data"
    make_tree(source, files=1, total_bytes=100)
    plain = cli("check", "-c", make_config([source], extra="ObjectLock compliance"))
    assert plain.returncode == 1
    assert f"bucket: FAILED: ObjectLock compliance is set, but bucket {bucket} has no Object Lock;" in plain.stdout
    locked = cli("check", "-c", make_config([source], bucket=locked_bucket, extra="ObjectLock compliance"))
    assert locked.returncode == 0, locked.stdout


def test_a_chain_is_kept_whole_while_one_of_its_diffs_is_locked(cli, s3_server, locked_bucket, make_config, tmp_path):
    """The old chain is due to go when the new one fills the slots; its FULL's lock has expired, its DIFFs' have
    not: retiring the FULL alone would leave DIFFs nobody can restore, so the chain stays whole."""
    source = tmp_path / "data"
    make_tree(source, files=5, total_bytes=20_000)
    first = TODAY - datetime.timedelta(days=3)  # its lock (3 slots of a day) ended today at 00:00 UTC
    phase = (first - datetime.date(1970, 1, 1)).days % 3  # so that a cycle starts on it
    conf = make_config(
        [source],
        bucket=locked_bucket,
        timing=f"Frequency 1\n    Diffs 3\n    Fulls 1\n    Phase {phase}",
        extra="ObjectLock governance 0",
    )
    made = []
    for offset in range(-3, 3):
        (source / f"day{offset}").write_text(str(offset))
        made.append(backup(cli, conf, day(offset)))
    assert [r["action"] for r in made] == ["FULL", "DIFF", "DIFF", "FULL", "DIFF", "DIFF"]
    old_chain = [r["backup_id"] for r in made[:3]]
    last = made[-1]
    assert last["retired"] == [] and last["locked"] == old_chain
    assert last["after"]["restorable"] == [day(offset) for offset in range(-3, 3)]
    assert cli("verify", "-c", conf).returncode == 0
