# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""GPG keys: find usable recipient keys (python-gnupg) and build gpg's argv for the pipeline."""

from __future__ import annotations

import os
import typing as t
from dataclasses import dataclass

from . import _deps
from .errors import KeyringError

# Never ask, never fetch keys from the network, never compress (zstd already did, better).
GPG_COMMON = ["--batch", "--no-tty", "--quiet", "--no-auto-key-retrieve", "--no-auto-key-locate"]


@dataclass(frozen=True)
class Keyring:
    """Where the keys live: a GnuPG home directory, or a keyring file inside the default home."""

    home: t.Optional[str] = None
    keyring_file: t.Optional[str] = None

    @classmethod
    def from_config(cls, gpg_keyring: t.Optional[str]) -> Keyring:
        if not gpg_keyring:
            return cls(home=os.environ.get("GNUPGHOME"))
        if os.path.isdir(gpg_keyring):
            return cls(home=gpg_keyring)
        if os.path.isfile(gpg_keyring):
            return cls(keyring_file=gpg_keyring)
        raise KeyringError(f"GpgKeyring {gpg_keyring} is neither a GnuPG home directory nor a keyring file")

    def argv(self) -> t.List[str]:
        args = ["gpg", *GPG_COMMON]
        if self.home:
            args += ["--homedir", self.home]
        if self.keyring_file:
            args += ["--no-default-keyring", "--keyring", self.keyring_file]
        return args

    def describe(self) -> str:
        return self.keyring_file or self.home or "the default GnuPG home (~/.gnupg)"


def usable_recipients(keyring: Keyring, recipients: t.Sequence[str]) -> t.List[str]:
    """Fingerprints of the public keys named by ``recipients``; KeyringError names the first unusable one."""
    gnupg = _deps.require_gnupg()
    kwargs: t.Dict[str, t.Any] = {}
    if keyring.home:
        kwargs["gnupghome"] = keyring.home
    if keyring.keyring_file:
        kwargs["keyring"] = keyring.keyring_file
    # no trust database checks, seed file updates or lock files: listing keys must not write to the disk
    kwargs["options"] = ["--no-auto-check-trustdb", "--no-random-seed-file", "--lock-never"]
    try:
        gpg = gnupg.GPG(**kwargs)
    except (OSError, ValueError, RuntimeError) as exc:
        raise KeyringError(f"cannot run gpg with {keyring.describe()}: {exc}") from None
    fingerprints: t.List[str] = []
    for recipient in recipients:
        keys = gpg.list_keys(keys=[recipient])
        if not keys:
            raise KeyringError(
                f"GpgRecipient {recipient}: no public key in {keyring.describe()}; import it (gpg --import) "
                "or point GpgKeyring at the keyring that holds it"
            )
        usable = [k for k in keys if k.get("trust") not in ("e", "r") and "E" in (k.get("cap") or "")]
        if not usable:
            states = sorted({{"e": "expired", "r": "revoked"}.get(k.get("trust"), "not for encryption") for k in keys})
            raise KeyringError(f"GpgRecipient {recipient}: its key is {', '.join(states)}; import a valid key")
        for key in usable:
            if key["fingerprint"] not in fingerprints:
                fingerprints.append(key["fingerprint"])
    return fingerprints


def encrypt_argv(keyring: Keyring, fingerprints: t.Sequence[str]) -> t.List[str]:
    # One gpg runs per chunk, so nothing it does may write to the disk: no seed file, no trust database
    # check, and no lock files (encryption only reads the keyring; the role writes it, never during a run).
    args = keyring.argv() + [
        "--trust-model",
        "always",
        "--compress-algo",
        "none",
        "--no-random-seed-file",
        "--no-auto-check-trustdb",
        "--lock-never",
        "--encrypt",
    ]
    for fingerprint in fingerprints:
        args += ["--recipient", fingerprint]
    return args


def decrypt_argv(home: t.Optional[str]) -> t.List[str]:
    return Keyring(home=home).argv() + ["--decrypt"]
