# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``s3napback.s3napback.gpg_key`` module, run for real by ``ansible-playbook`` on localhost, with real gpg.

Check mode, a real run, then the same again changing nothing (community.crypto's four-step assert); a key file
with another ownertrust; removal; and refusals: a secret key (armored and binary), a swapped key file, garbage.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support.ansible import Playbooks, Run
from support.gpgkeys import kill_agent, secret_key_count

pytestmark = pytest.mark.integration

MODULE = "s3napback.s3napback.gpg_key"


def gpg(home: str | Path, *args: str) -> bytes:
    argv = ["gpg", "--homedir", str(home), "--batch", "--no-tty", "--quiet", *args]
    return subprocess.run(argv, capture_output=True, check=True, timeout=120).stdout


def ownertrust(home: Path, fingerprint: str) -> str:
    records = [line.split(":") for line in gpg(home, "--with-colons", "--list-keys", fingerprint).decode().splitlines()]
    return next(rec[8] for rec in records if rec[0] == "pub")


def public_fingerprints(home: Path) -> list[str]:
    records = [line.split(":") for line in gpg(home, "--with-colons", "--list-keys").decode().splitlines()]
    return [rec[9] for i, rec in enumerate(records) if rec[0] == "fpr" and records[i - 1][0] == "pub"]


def assert_clean_failure(run: Run, result: dict, start: str) -> None:
    """A failed task: one line that starts with ``start``, no traceback, no secret key material anywhere."""
    assert result["failed"] is True
    assert result["changed"] is False
    msg = result["msg"]
    assert msg.startswith(start), msg
    assert "\n" not in msg
    # an expected error: no traceback (ansible-core 2.19 fills in "(traceback unavailable)" when none is given)
    assert "Traceback" not in result.get("exception", "")
    assert "Traceback" not in run.proc.stdout + run.proc.stderr
    for where, text in (("stdout", run.proc.stdout), ("stderr", run.proc.stderr), ("results", run.dump)):
        assert "PRIVATE KEY" not in text, f"secret key material in the ansible-playbook {where}"


@pytest.fixture
def playbooks(tmp_path: Path) -> Playbooks:
    return Playbooks(tmp_path / "ansible", MODULE)


@pytest.fixture
def home(tmp_path: Path):
    path = tmp_path / "gnupg"
    yield path
    if path.is_dir():
        kill_agent(str(path))  # gpg --list-secret-keys in the asserts starts one


def test_import_check_mode_and_idempotence(playbooks, home, gpg_keys, tmp_path):
    args = {"gnupghome": str(home), "key": gpg_keys.public_armored, "fingerprint": gpg_keys.fingerprint}

    # check mode alone: says what it would do, creates nothing
    run = playbooks.run([{"args": args, "check_mode": True}])
    assert run.proc.returncode == 0, run.output()
    (check,) = run.results
    assert check["changed"] is True
    assert check["fingerprint"] == gpg_keys.fingerprint
    assert check["msg"].startswith(f"would create {home}, import {gpg_keys.fingerprint}")
    assert not home.exists()

    # check mode, real run, check mode, real run
    run = playbooks.run(
        [{"args": args, "check_mode": True}, {"args": args}, {"args": args, "check_mode": True}, {"args": args}]
    )
    assert run.proc.returncode == 0, run.output()
    assert [result["changed"] for result in run.results] == [True, True, False, False]
    for result in run.results:
        assert result["fingerprint"] == gpg_keys.fingerprint
        assert result["fingerprints"] == [gpg_keys.fingerprint]
    real = run.results[1]
    assert (real["imported"], real["trust_set"], real["created_home"]) == (True, True, True)
    assert real["msg"] == (
        f"created {home}, imported {gpg_keys.fingerprint}, set the ownertrust of {gpg_keys.fingerprint} to ultimate"
    )
    assert run.results[3]["msg"] == f"{gpg_keys.fingerprint} already in {home} with ownertrust ultimate"
    assert public_fingerprints(home) == [gpg_keys.fingerprint]
    assert ownertrust(home, gpg_keys.fingerprint) == "u"

    # the same key from a file on the host, with another ownertrust: only the trust changes
    key_file = tmp_path / "recipient.asc"
    key_file.write_text(gpg_keys.public_armored)
    file_args = {"gnupghome": str(home), "key_file": str(key_file), "trust": "full"}
    run = playbooks.run(
        [
            {"args": file_args, "check_mode": True},
            {"args": file_args},
            {"args": file_args, "check_mode": True},
            {"args": file_args},
        ]
    )
    assert run.proc.returncode == 0, run.output()
    assert [result["changed"] for result in run.results] == [True, True, False, False]
    assert (run.results[1]["imported"], run.results[1]["trust_set"]) == (False, True)
    assert ownertrust(home, gpg_keys.fingerprint) == "f"

    # removal by fingerprint, the same four steps
    absent = {"gnupghome": str(home), "fingerprint": gpg_keys.fingerprint, "state": "absent"}
    run = playbooks.run(
        [{"args": absent, "check_mode": True}, {"args": absent}, {"args": absent, "check_mode": True}, {"args": absent}]
    )
    assert run.proc.returncode == 0, run.output()
    assert [result["changed"] for result in run.results] == [True, True, False, False]
    assert run.results[1]["removed"] == [gpg_keys.fingerprint]
    assert public_fingerprints(home) == []


def test_refusals(playbooks, home, gpg_keys, gpg_keypair_factory, tmp_path):
    other = gpg_keypair_factory("other@s3napback.invalid")
    secret = ["--pinentry-mode", "loopback", "--passphrase", ""]
    secret_armored = gpg(other.private_home, *secret, "--armor", "--export-secret-keys", other.fingerprint).decode()
    secret_binary = tmp_path / "secret.gpg"
    secret_binary.write_bytes(gpg(other.private_home, *secret, "--export-secret-keys", other.fingerprint))
    kill_agent(other.private_home)
    assert "PRIVATE KEY" in secret_armored  # what must not come back in any output
    swapped = tmp_path / "swapped.asc"
    swapped.write_text(other.public_armored)
    garbage = tmp_path / "garbage.asc"
    garbage.write_text("this is not a key\n")

    steps = [
        {"gnupghome": str(home), "key": gpg_keys.public_armored},  # the home holds one key before the refusals
        {"gnupghome": str(home), "key": secret_armored},
        {"gnupghome": str(home), "key_file": str(secret_binary)},
        {"gnupghome": str(home), "key_file": str(swapped), "fingerprint": gpg_keys.fingerprint},
        {"gnupghome": str(home), "key_file": str(garbage)},
        {"gnupghome": str(home), "key_file": str(tmp_path / "missing.asc")},
        {"gnupghome": str(home), "key": gpg_keys.public_armored, "key_file": str(swapped)},
        {"gnupghome": str(home)},
    ]
    # -vvvv: ansible-playbook then prints every task's module arguments (and the host's journal gets them too):
    # the key option is no_log, so a secret key given by mistake shows up in neither
    run = playbooks.run(
        [{"args": args, "ignore_errors": index > 0} for index, args in enumerate(steps)], verbosity="-vvvv"
    )
    assert run.proc.returncode == 0, run.output()
    first, armored, binary, mismatch, bad, missing, both, neither = run.results
    assert first["changed"] is True
    assert run.proc.stdout.count("...ignoring") == len(steps) - 1
    assert '"key": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in run.proc.stdout  # -vvvv did show the arguments

    assert_clean_failure(run, armored, "the key option holds a SECRET key: hosts hold public keys only")
    assert_clean_failure(run, binary, f"key_file {secret_binary} holds a SECRET key: hosts hold public keys only")
    assert_clean_failure(
        run,
        mismatch,
        f"key_file {swapped} holds key {other.fingerprint}, not the expected fingerprint {gpg_keys.fingerprint}",
    )
    assert_clean_failure(run, bad, f"key_file {garbage}: no OpenPGP public key found")
    assert_clean_failure(run, missing, f"cannot read the key file {tmp_path / 'missing.asc'}: No such file")
    assert_clean_failure(run, both, "parameters are mutually exclusive: key|key_file")
    assert_clean_failure(run, neither, "state is present but any of the following are missing: key, key_file")

    # nothing of the refused keys reached the home
    assert public_fingerprints(home) == [gpg_keys.fingerprint]
    assert secret_key_count(home) == 0
