# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The gpg_key engine (``_s3napback.gpgkeys``) against real gpg, with keys made here.

Besides the session's good key pair (``gpg_keys``), one module-scoped home makes the awkward keys: expired,
revoked, sign-only, with only an expired encryption subkey, one whose expiry gets extended, and a second good
key whose secret part is exported (armored and binary) for the refusal tests.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from _s3napback import _deps, gpgkeys
from _s3napback.errors import KeyringError
from support.gpgkeys import kill_agent, secret_key_count

PAST = "20200101T000000"  # gpg --faked-system-time: keys made "then" with a 1-day expiry are long expired


def gpg(home: str | Path, *args: str, input: bytes | None = None) -> bytes:
    argv = ["gpg", "--homedir", str(home), "--batch", "--no-tty", "--quiet", *args]
    proc = subprocess.run(argv, input=input, capture_output=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def colons(home: str | Path, *args: str) -> list[list[str]]:
    return [line.split(":") for line in gpg(home, "--with-colons", *args).decode().splitlines()]


def fingerprint_of(home: str | Path, uid: str) -> str:
    return next(rec[9] for rec in colons(home, "--list-keys", uid) if rec[0] == "fpr")


def ownertrust(home: str | Path, fingerprint: str) -> str:
    records = colons(home, "--list-keys", fingerprint)
    return next(rec[8] for rec in records if rec[0] == "pub")


def public_fingerprints(home: str | Path) -> list[str]:
    if not any((Path(home) / name).exists() for name in ("pubring.kbx", "pubring.gpg")):
        return []
    records = colons(home, "--list-keys")
    return [rec[9] for i, rec in enumerate(records) if rec[0] == "fpr" and records[i - 1][0] == "pub"]


def snapshot(home: Path) -> dict:
    """Every entry under ``home`` (not the folder itself): mode, size, mtime and content hash."""
    entries = {}
    for path in sorted(home.rglob("*")):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        entries[str(path.relative_to(home))] = (info.st_mode, info.st_size, info.st_mtime_ns, digest)
    return entries


def assert_one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    assert "BEGIN PGP" not in message.replace("-----BEGIN PGP PUBLIC KEY BLOCK-----", "")
    return message


@dataclass
class Keys:
    home: str
    expired: str
    expired_fpr: str
    revoked: str
    revoked_fpr: str
    revoked_clean: str  # the same key, exported before its revocation
    revocation: bytes
    sign_only: str
    sign_only_fpr: str
    subkey_expired: str
    other: str
    other_fpr: str
    secret_armored: bytes
    secret_binary: bytes
    renew_short: str  # expires in a year
    renew_long: str  # the same key, its expiry extended to three years
    renew_fpr: str


def _gen(home: str, uid: str, algo: str, usage: str, expire: str, *extra: str) -> str:
    gpg(home, *extra, "--passphrase", "", "--quick-gen-key", uid, algo, usage, expire)
    return fingerprint_of(home, uid)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    home = str(tmp_path_factory.mktemp("gpgk") / "h")
    os.mkdir(home, 0o700)
    os.chmod(home, 0o700)
    try:

        def export(fpr: str) -> str:
            return gpg(home, "--armor", "--export", fpr).decode("ascii")

        expired_fpr = _gen(
            home, "Expired <expired@s3napback.invalid>", "future-default", "default", "1d", "--faked-system-time", PAST
        )
        revoked_fpr = _gen(home, "Revoked <revoked@s3napback.invalid>", "future-default", "default", "never")
        revoked_clean = export(revoked_fpr)
        certificate = Path(home, "openpgp-revocs.d", f"{revoked_fpr}.rev").read_bytes()
        # gpg puts a ':' before the armor line so that the certificate is not imported by accident
        revocation = b"\n".join(line[1:] if line.startswith(b":-----") else line for line in certificate.split(b"\n"))
        gpg(home, "--import", input=revocation)
        sign_only_fpr = _gen(home, "Sign Only <sign@s3napback.invalid>", "ed25519", "sign", "never")
        # made "in 2020" (a subkey cannot be older than its key), the key without expiry, its subkey for a day
        subkey_fpr = _gen(
            home, "Old Subkey <subkey@s3napback.invalid>", "ed25519", "sign", "never", "--faked-system-time", PAST
        )
        gpg(
            home,
            "--faked-system-time",
            PAST,
            "--passphrase",
            "",
            "--quick-add-key",
            subkey_fpr,
            "cv25519",
            "encr",
            "1d",
        )
        other_fpr = _gen(home, "Other <other@s3napback.invalid>", "future-default", "default", "never")
        secret = ["--pinentry-mode", "loopback", "--passphrase", ""]
        renew_fpr = _gen(home, "Renew <renew@s3napback.invalid>", "future-default", "default", "1y")
        renew_short = export(renew_fpr)
        gpg(home, "--passphrase", "", "--quick-set-expire", renew_fpr, "3y")
        gpg(home, "--passphrase", "", "--quick-set-expire", renew_fpr, "3y", "*")
        return Keys(
            home=home,
            expired=export(expired_fpr),
            expired_fpr=expired_fpr,
            revoked=export(revoked_fpr),
            revoked_fpr=revoked_fpr,
            revoked_clean=revoked_clean,
            revocation=revocation,
            sign_only=export(sign_only_fpr),
            sign_only_fpr=sign_only_fpr,
            subkey_expired=export(subkey_fpr),
            other=export(other_fpr),
            other_fpr=other_fpr,
            secret_armored=gpg(home, *secret, "--armor", "--export-secret-keys", other_fpr),
            secret_binary=gpg(home, *secret, "--export-secret-keys", other_fpr),
            renew_short=renew_short,
            renew_long=export(renew_fpr),
            renew_fpr=renew_fpr,
        )
    finally:
        kill_agent(home)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """Where the target GnuPG home goes: it does not exist yet. (gpg --list-secret-keys starts an agent there.)"""
    path = tmp_path / "gnupg"
    yield path
    if path.is_dir():
        kill_agent(str(path))


# --- import, idempotence, ownertrust -------------------------------------------------------------------------------


def test_import_creates_the_home_then_does_nothing(home, gpg_keys):
    result = gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored)
    assert result["changed"] is True
    assert (result["imported"], result["trust_set"], result["created_home"]) == (True, True, True)
    assert result["fingerprint"] == gpg_keys.fingerprint
    assert result["fingerprints"] == [gpg_keys.fingerprint]
    assert result["msg"].startswith(f"created {home}, imported {gpg_keys.fingerprint}")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert public_fingerprints(home) == [gpg_keys.fingerprint]
    assert ownertrust(home, gpg_keys.fingerprint) == "u"
    assert not list(home.glob("S.gpg-agent*"))  # no agent was started for the home
    assert secret_key_count(home) == 0

    before = snapshot(home)
    again = gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored)
    assert again["changed"] is False
    assert (again["imported"], again["trust_set"], again["created_home"]) == (False, False, False)
    assert again["fingerprint"] == gpg_keys.fingerprint
    assert again["msg"] == f"{gpg_keys.fingerprint} already in {home} with ownertrust ultimate"
    assert snapshot(home) == before


def test_existing_empty_home_is_used_as_it_is(home, gpg_keys):
    home.mkdir(mode=0o750)
    result = gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored.encode("ascii"))
    assert result["changed"] is True
    assert result["created_home"] is False
    assert public_fingerprints(home) == [gpg_keys.fingerprint]


def test_trust_change_is_a_change(home, gpg_keys):
    gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored)
    for trust, letter in (("full", "f"), ("marginal", "m"), ("none", "n"), ("ultimate", "u")):
        result = gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored, trust=trust)
        assert result["changed"] is True, trust
        assert (result["imported"], result["trust_set"]) == (False, True)
        assert result["msg"] == f"set the ownertrust of {gpg_keys.fingerprint} to {trust}"
        assert ownertrust(home, gpg_keys.fingerprint) == letter
        assert gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored, trust=trust)["changed"] is False


def test_ownertrust_without_python_gnupg_trust_keys(home, gpg_keys, monkeypatch):
    # python-gnupg before 0.4.2 has no trust_keys: gpg --import-ownertrust is run directly
    monkeypatch.delattr(_deps.gnupg.GPG, "trust_keys")
    result = gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored, trust="marginal")
    assert result["trust_set"] is True
    assert ownertrust(home, gpg_keys.fingerprint) == "m"
    assert gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored, trust="marginal")["changed"] is False


def test_unknown_trust_is_refused(home, gpg_keys):
    with pytest.raises(KeyringError, match="trust 'total': expected one of ultimate, full, marginal, none"):
        gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored, trust="total")


def test_a_renewed_key_is_merged_and_an_older_copy_is_no_change(home, keys):
    assert gpgkeys.ensure_public_key(str(home), keys.renew_short)["changed"] is True
    renewed = gpgkeys.ensure_public_key(str(home), keys.renew_long)
    assert renewed["changed"] is True
    assert (renewed["imported"], renewed["trust_set"]) == (True, False)
    assert gpgkeys.ensure_public_key(str(home), keys.renew_long)["changed"] is False
    # the home already has the later expiry: the old export brings nothing
    assert gpgkeys.ensure_public_key(str(home), keys.renew_short)["changed"] is False


def test_several_keys_in_one_text(home, gpg_keys, keys):
    both = gpg_keys.public_armored + keys.other
    result = gpgkeys.ensure_public_key(str(home), both, trust="full")
    assert result["fingerprints"] == [gpg_keys.fingerprint, keys.other_fpr]
    assert result["fingerprint"] == gpg_keys.fingerprint
    assert sorted(public_fingerprints(home)) == sorted(result["fingerprints"])
    assert {ownertrust(home, fpr) for fpr in result["fingerprints"]} == {"f"}
    assert gpgkeys.ensure_public_key(str(home), both, trust="full")["changed"] is False


# --- check mode ------------------------------------------------------------------------------------------------------


def test_check_mode_does_not_create_the_home(home, gpg_keys):
    result = gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored, check_mode=True)
    assert result["changed"] is True
    assert (result["imported"], result["trust_set"], result["created_home"]) == (True, True, True)
    assert result["fingerprint"] == gpg_keys.fingerprint
    assert result["msg"].startswith(f"would create {home}, import {gpg_keys.fingerprint}")
    assert result["msg"].endswith("(check mode: nothing changed)")
    assert not home.exists()


def test_check_mode_leaves_an_empty_home_empty(home, gpg_keys):
    home.mkdir(mode=0o700)
    result = gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored, check_mode=True)
    assert result["changed"] is True
    assert result["created_home"] is False
    assert list(home.iterdir()) == []  # gpg would create pubring.kbx and trustdb.gpg by listing it


def test_check_mode_leaves_the_home_untouched(home, gpg_keys, keys):
    gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored)
    before = snapshot(home)
    for key, trust in (
        (gpg_keys.public_armored, "full"),
        (keys.other, "ultimate"),
        (gpg_keys.public_armored, "ultimate"),
    ):
        result = gpgkeys.ensure_public_key(str(home), key, trust=trust, check_mode=True)
        assert result["changed"] is (trust == "full" or key is keys.other)
        assert snapshot(home) == before
    assert ownertrust(home, gpg_keys.fingerprint) == "u"
    assert public_fingerprints(home) == [gpg_keys.fingerprint]


def test_check_mode_without_trust_database_does_not_create_one(home, gpg_keys):
    gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored)
    (home / "trustdb.gpg").unlink()
    before = snapshot(home)
    result = gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored, check_mode=True)
    assert (result["changed"], result["imported"], result["trust_set"]) == (True, False, True)
    assert snapshot(home) == before


# --- refusals: nothing reaches the home ------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["armored", "binary"])
@pytest.mark.parametrize("check_mode", [False, True])
def test_secret_key_is_refused(home, gpg_keys, keys, form, check_mode):
    gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored)
    before = snapshot(home)
    data = keys.secret_armored if form == "armored" else keys.secret_binary
    with pytest.raises(KeyringError) as exc:
        gpgkeys.ensure_public_key(str(home), data, check_mode=check_mode, source="key_file /tmp/k")
    message = assert_one_line(exc)
    assert message.startswith("key_file /tmp/k holds a SECRET key: hosts hold public keys only")
    assert "PRIVATE KEY" not in message
    assert snapshot(home) == before
    assert secret_key_count(home) == 0
    assert public_fingerprints(home) == [gpg_keys.fingerprint]


def test_secret_key_is_refused_before_the_home_is_created(home, keys):
    with pytest.raises(KeyringError, match="holds a SECRET key"):
        gpgkeys.ensure_public_key(str(home), keys.secret_armored.decode("ascii"))
    assert not home.exists()
    with pytest.raises(KeyringError, match="holds a SECRET key"):
        gpgkeys.scan_key_data(keys.secret_binary)


def test_expired_key_is_refused(home, keys):
    with pytest.raises(KeyringError) as exc:
        gpgkeys.ensure_public_key(str(home), keys.expired)
    message = assert_one_line(exc)
    assert message == (
        f"the key: key {keys.expired_fpr} (Expired <expired@s3napback.invalid>) expired on 2020-01-02; "
        "extend it (gpg --quick-set-expire) and export it again"
    )
    assert not home.exists()


def test_revoked_key_is_refused(home, keys):
    with pytest.raises(KeyringError) as exc:
        gpgkeys.ensure_public_key(str(home), keys.revoked, check_mode=True)
    assert assert_one_line(exc) == (
        f"the key: key {keys.revoked_fpr} (Revoked <revoked@s3napback.invalid>) is revoked; use the owner's current key"
    )
    assert not home.exists()


def test_key_revoked_in_the_home_is_refused(home, keys):
    gpgkeys.ensure_public_key(str(home), keys.revoked_clean)
    gpg(home, "--import", input=keys.revocation)  # the home learns of the revocation some other way
    for check_mode in (True, False):
        with pytest.raises(KeyringError) as exc:
            gpgkeys.ensure_public_key(str(home), keys.revoked_clean, check_mode=check_mode)
        message = assert_one_line(exc)
        assert message.startswith(f"key {keys.revoked_fpr} (Revoked <revoked@s3napback.invalid>) is revoked in {home}")
        assert "state=absent" in message


def test_sign_only_key_is_refused(home, keys):
    with pytest.raises(KeyringError) as exc:
        gpgkeys.ensure_public_key(str(home), keys.sign_only)
    message = assert_one_line(exc)
    assert message.startswith(
        f"the key: key {keys.sign_only_fpr} (Sign Only <sign@s3napback.invalid>) cannot encrypt "
        "(it can only sign and certify)"
    )
    assert f"gpg --quick-add-key {keys.sign_only_fpr} cv25519 encr" in message
    assert not home.exists()


def test_key_whose_encryption_subkey_expired_is_refused(home, keys):
    with pytest.raises(KeyringError, match=r"has no usable encryption subkey \(each one is expired or revoked\)"):
        gpgkeys.ensure_public_key(str(home), keys.subkey_expired)
    assert not home.exists()


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not a key at all\n",
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----\n",
    ],
    ids=["empty", "text", "bad-armor"],
)
def test_garbage_is_refused(home, garbage):
    with pytest.raises(KeyringError) as exc:
        gpgkeys.ensure_public_key(str(home), garbage, source="key_file /etc/key.asc")
    assert assert_one_line(exc) == (
        "key_file /etc/key.asc: no OpenPGP public key found "
        "(expected an armored -----BEGIN PGP PUBLIC KEY BLOCK----- or a binary key export)"
    )
    assert not home.exists()


def test_fingerprint_mismatch_is_refused(home, gpg_keys, keys):
    with pytest.raises(KeyringError) as exc:
        gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored, expected_fingerprint=keys.other_fpr)
    assert assert_one_line(exc) == (
        f"the key holds key {gpg_keys.fingerprint}, not the expected fingerprint {keys.other_fpr}: "
        "wrong or swapped key file?"
    )
    assert not home.exists()
    # two keys where one is expected: refused too, even if one of them is the right one
    with pytest.raises(KeyringError, match="not the expected fingerprint"):
        gpgkeys.ensure_public_key(
            str(home), gpg_keys.public_armored + keys.other, expected_fingerprint=gpg_keys.fingerprint
        )
    assert not home.exists()


def test_expected_fingerprint_as_gpg_prints_it(home, gpg_keys):
    fpr = gpg_keys.fingerprint
    spaced = " ".join(fpr[i : i + 4] for i in range(0, 40, 4)).lower()
    result = gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored, expected_fingerprint=spaced)
    assert result["fingerprint"] == fpr
    assert gpgkeys.normalize_fingerprint("0x" + fpr.lower()) == fpr


@pytest.mark.parametrize("value", ["", "DEADBEEF", "0123456789ABCDEF", "G" * 40, "A" * 39])
def test_short_or_bad_fingerprints_are_refused(value):
    with pytest.raises(KeyringError, match="expected the key's full fingerprint"):
        gpgkeys.normalize_fingerprint(value)


def test_home_that_is_a_file_is_refused(tmp_path, gpg_keys):
    path = tmp_path / "not-a-folder"
    path.write_text("")
    with pytest.raises(KeyringError, match=f"GnuPG home {path} exists but is not a directory"):
        gpgkeys.ensure_public_key(str(path), gpg_keys.public_armored)


def test_missing_python_gnupg_is_reported(home, gpg_keys, monkeypatch):
    monkeypatch.setattr(_deps, "gnupg", None)
    with pytest.raises(_deps.MissingDependency, match="python-gnupg is missing"):
        gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored)


# --- key files, scanning, removal ----------------------------------------------------------------------------------


def test_read_key_file(tmp_path, gpg_keys):
    path = tmp_path / "key.asc"
    path.write_text(gpg_keys.public_armored)
    assert gpgkeys.read_key_file(str(path)) == gpg_keys.public_armored.encode("ascii")
    with pytest.raises(KeyringError, match=f"cannot read the key file {tmp_path}/missing.asc: No such file"):
        gpgkeys.read_key_file(str(tmp_path / "missing.asc"))


def test_scan_lists_without_importing(gpg_keys, keys):
    (key,) = gpgkeys.scan_key_data(gpg_keys.public_armored)
    assert key.fingerprint == gpg_keys.fingerprint
    assert key.kind == "pub"
    assert "E" in key.cap
    assert key.uids == (f"s3napback test <{gpg_keys.email}>",)
    assert gpgkeys.fingerprints_of(keys.revoked) == [keys.revoked_fpr]  # removal does not care about validity


def test_remove_public_key(home, gpg_keys, keys):
    gpgkeys.ensure_public_key(str(home), gpg_keys.public_armored + keys.other)
    before = snapshot(home)
    check = gpgkeys.remove_public_key(str(home), [keys.other_fpr], check_mode=True)
    assert (check["changed"], check["removed"]) == (True, [keys.other_fpr])
    assert snapshot(home) == before
    done = gpgkeys.remove_public_key(str(home), [keys.other_fpr.lower()])
    assert (done["changed"], done["removed"], done["fingerprint"]) == (True, [keys.other_fpr], keys.other_fpr)
    assert done["msg"] == f"removed {keys.other_fpr} from {home}"
    assert public_fingerprints(home) == [gpg_keys.fingerprint]
    again = gpgkeys.remove_public_key(str(home), [keys.other_fpr])
    assert (again["changed"], again["removed"]) == (False, [])
    assert again["msg"] == f"{keys.other_fpr} not in {home}"


def test_remove_from_a_missing_home_creates_nothing(home, gpg_keys):
    for check_mode in (True, False):
        result = gpgkeys.remove_public_key(str(home), [gpg_keys.fingerprint], check_mode=check_mode)
        assert result["changed"] is False
    assert not home.exists()
