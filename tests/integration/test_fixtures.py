# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Smoke tests proving that the shared fixtures give real, working parts."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from support.gpgkeys import secret_key_count

pytestmark = pytest.mark.integration


def test_bucket_put_get_roundtrip(s3_server, bucket):
    client = s3_server.client()
    client.head_bucket(Bucket=bucket)
    payload = os.urandom(256 * 1024)
    client.put_object(Bucket=bucket, Key="smoke/object.bin", Body=payload)
    assert client.get_object(Bucket=bucket, Key="smoke/object.bin")["Body"].read() == payload
    listed = client.list_objects_v2(Bucket=bucket, Prefix="smoke/")
    assert [obj["Key"] for obj in listed["Contents"]] == ["smoke/object.bin"]


def test_buckets_are_fresh_and_distinct(s3_server, bucket):
    assert bucket.startswith("s3nb-test-")
    assert s3_server.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_gpg_encrypt_with_public_home_decrypt_with_private_home(gpg_keys):
    plaintext = os.urandom(64 * 1024)
    encrypted = subprocess.run(
        ["gpg", "--homedir", gpg_keys.public_home, "--batch", "--trust-model", "always", "-r", gpg_keys.email, "-e"],
        input=plaintext,
        capture_output=True,
        check=True,
    ).stdout
    assert encrypted and encrypted != plaintext
    decrypted = subprocess.run(
        ["gpg", "--homedir", gpg_keys.private_home, "--batch", "--quiet", "-d"],
        input=encrypted,
        capture_output=True,
        check=True,
    ).stdout
    assert decrypted == plaintext


def test_public_home_has_no_secret_key(gpg_keys):
    listing = subprocess.run(
        ["gpg", "--homedir", gpg_keys.public_home, "--batch", "--list-secret-keys"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert listing.strip() == ""
    assert secret_key_count(gpg_keys.public_home) == 0
    assert secret_key_count(gpg_keys.private_home) == 1
    assert gpg_keys.fingerprint in gpg_keys.public_armored or "BEGIN PGP PUBLIC KEY BLOCK" in gpg_keys.public_armored


def test_wrong_key_cannot_decrypt(gpg_keys, gpg_keypair_factory):
    other = gpg_keypair_factory("wrong-key@s3napback.invalid")
    assert other.fingerprint != gpg_keys.fingerprint
    encrypted = subprocess.run(
        ["gpg", "--homedir", gpg_keys.public_home, "--batch", "--trust-model", "always", "-r", gpg_keys.email, "-e"],
        input=b"secret data",
        capture_output=True,
        check=True,
    ).stdout
    result = subprocess.run(
        ["gpg", "--homedir", other.private_home, "--batch", "-d"], input=encrypted, capture_output=True, check=False
    )
    assert result.returncode != 0


def test_s3_key_file(s3_key_file, s3_server):
    assert stat.S_IMODE(s3_key_file.stat().st_mode) == 0o600
    assert s3_key_file.read_text() == f"key={s3_server.access_key}\nsecret={s3_server.secret_key}\n"
