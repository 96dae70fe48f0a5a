# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real, throwaway GPG key pairs for tests and the demo.

A key pair lives in two GnuPG homes, as in production: the *private home* holds the secret key (what an
operator keeps offline and brings to a restore), the *public home* holds only the public key (what every
backed-up host has). Keys are ed25519 (sign/certify) + cv25519 (encrypt) with no passphrase: gpg 2.2.40 makes
them in about 0.1 s, against 0.5 s or more for RSA 3072 (which depends on the entropy pool).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# gpg-agent puts its sockets in the home folder; a unix socket path must fit in 108 bytes.
_MAX_HOME_LEN = 80


class GpgError(RuntimeError):
    """A gpg command failed."""


def _gpg(
    home: str, *args: str, input: bytes | None = None
) -> subprocess.CompletedProcess:  # same name as subprocess.run's
    argv = ["gpg", "--homedir", home, "--batch", "--no-tty", "--quiet", *args]
    result = subprocess.run(argv, input=input, capture_output=True, check=False, timeout=120)  # noqa: S603
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace").strip()
        raise GpgError(f"{' '.join(argv)} failed ({result.returncode}): {stderr}")
    return result


def _new_home(parent: str | os.PathLike | None, name: str) -> str:
    """A fresh 0700 folder for a GnuPG home under ``parent``, or under the temp dir if that path is too long."""
    if parent is not None:
        home = os.path.join(os.fspath(parent), name)
        if len(home) <= _MAX_HOME_LEN:
            os.makedirs(home, mode=0o700)
            os.chmod(home, 0o700)  # makedirs' mode is masked by the umask; gpg warns about group/other access
            return home
    return tempfile.mkdtemp(prefix=f"s3nb-{name}-")


def kill_agent(home: str) -> None:
    """Stop any gpg-agent (and dirmngr, keyboxd) started for ``home``. Best effort."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(  # noqa: S603
            ["gpgconf", "--homedir", home, "--kill", "all"],
            capture_output=True,
            check=False,
            timeout=30,
        )


@dataclass
class KeyPair:
    """One key pair: ``private_home`` has the secret key, ``public_home`` only the public key."""

    private_home: str
    public_home: str
    fingerprint: str
    email: str
    public_armored: str

    def close(self, remove: bool = True) -> None:
        """Stop the gpg agents of both homes and (by default) delete them."""
        for home in (self.private_home, self.public_home):
            kill_agent(home)
            if remove:
                shutil.rmtree(home, ignore_errors=True)

    def __enter__(self) -> KeyPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_keypair(base_dir: str | os.PathLike | None, email: str, *, name: str = "s3napback test") -> KeyPair:
    """Generate a real key pair for ``email`` (no passphrase) in two new homes under ``base_dir``.

    The homes are ``base_dir/gpg-<local part>-private`` and ``...-public`` (or fresh folders in the temp dir when
    ``base_dir`` is None or too long for gpg-agent's sockets). The agents it starts are stopped before it
    returns; call :meth:`KeyPair.close` when done with the homes (it stops any agent started since).
    """
    local = "".join(c if c.isalnum() else "-" for c in email.split("@", 1)[0])[:20] or "key"
    private_home = _new_home(base_dir, f"gpg-{local}-private")
    public_home = _new_home(base_dir, f"gpg-{local}-public")
    try:
        # "future-default" = ed25519 primary key (sign, certify) + cv25519 subkey (encrypt), no expiry.
        _gpg(
            private_home,
            "--passphrase",
            "",
            "--quick-gen-key",
            f"{name} <{email}>",
            "future-default",
            "default",
            "never",
        )
        listing = _gpg(private_home, "--with-colons", "--list-secret-keys", email).stdout.decode()
        fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        armored = _gpg(private_home, "--armor", "--export", fingerprint).stdout
        _gpg(public_home, "--import", input=armored)
    except BaseException:
        for home in (private_home, public_home):
            kill_agent(home)
            shutil.rmtree(home, ignore_errors=True)
        raise
    finally:
        kill_agent(private_home)
    return KeyPair(
        private_home=private_home,
        public_home=public_home,
        fingerprint=fingerprint,
        email=email,
        public_armored=armored.decode("ascii"),
    )


def secret_key_count(home: str | Path) -> int:
    """How many secret keys ``home`` holds (0 for a public-only home)."""
    listing = _gpg(os.fspath(home), "--with-colons", "--list-secret-keys").stdout.decode()
    return sum(1 for line in listing.splitlines() if line.startswith("sec:"))


def export_secret_key(keys: KeyPair) -> str:
    """The key pair's private key, ASCII-armored (what an operator keeps offline and brings to a restore)."""
    try:
        return _gpg(keys.private_home, "--armor", "--export-secret-keys", keys.fingerprint).stdout.decode("ascii")
    finally:
        kill_agent(keys.private_home)


def processes_naming(text: str) -> list[str]:
    """Command lines of the running processes that contain ``text`` (e.g. a gpg-agent for a GnuPG home)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(cmdline.strip())
    return found
