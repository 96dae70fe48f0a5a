# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Public keys in a dedicated GnuPG home: inspect, import, trust and remove them, idempotently (python-gnupg).

This module util is PRIVATE to the s3napback.s3napback collection; its API may change at any time.

Hosts hold public keys only (DESIGN invariant 5), so key material is checked before it reaches the home:

1. an armored private key block is refused before gpg even sees it;
2. the rest is scanned in a throwaway home (``gpg --dry-run --import-options import-show``): secret keys,
   revoked, expired and sign-only keys are refused there, with a one-line message that says which;
3. the key is imported into that throwaway home, checked again as gpg sees it once imported, and exported:
   the real home only ever receives what ``gpg --export`` wrote, which carries no secret material.

Works with python-gnupg 0.4.9 (Debian 12) as well as 0.5.x: ``scan_keys`` (a file), not ``scan_keys_mem``
(0.5.1 and later); ``trust_keys`` exists since 0.4.2, older versions fall back to ``gpg --import-ownertrust``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import typing as t
from dataclasses import dataclass

from . import _deps
from .errors import KeyringError

__all__ = [
    "TRUST_CHOICES",
    "KeyInfo",
    "Subkey",
    "ensure_public_key",
    "fingerprints_of",
    "normalize_fingerprint",
    "read_key_file",
    "remove_public_key",
    "scan_key_data",
]

# Never start a gpg-agent (a public keyring does not need one, and a module must not leave daemons behind);
# never let a listing rewrite the trust database (check mode promises an untouched home).
_GPG_OPTIONS = ["--no-autostart", "--no-auto-check-trustdb"]

_PRIVATE_ARMOR = (b"-----BEGIN PGP PRIVATE KEY BLOCK-----", b"-----BEGIN PGP SECRET KEY BLOCK-----")

# option value -> (python-gnupg trust level, gpg's ownertrust letter in --with-colons listings, ownertrust value)
_TRUST = {
    "ultimate": ("TRUST_ULTIMATE", "u", 6),
    "full": ("TRUST_FULLY", "f", 5),
    "marginal": ("TRUST_MARGINAL", "m", 4),
    "none": ("TRUST_NEVER", "n", 3),  # gpg's "I do NOT trust"
}
TRUST_CHOICES = tuple(_TRUST)

_FINGERPRINT_RE = re.compile(r"[0-9A-F]{40}|[0-9A-F]{64}")  # v4 (SHA-1) or v5 (SHA-256) fingerprints
_KEYRING_FILES = ("pubring.kbx", "pubring.gpg")


@dataclass(frozen=True)
class Subkey:
    fingerprint: str
    cap: str
    validity: str
    expires: t.Optional[int]


@dataclass(frozen=True)
class KeyInfo:
    """One key as gpg lists it with --with-colons (see gpg's doc/DETAILS)."""

    fingerprint: str
    kind: str  # "pub", or "sec" when the data held the secret key
    validity: str  # field 2: "e" expired, "r" revoked, "i" invalid, "d" disabled, else a trust letter or "-"
    ownertrust: str  # field 9: "u", "f", "m", "n", "q" or "-"
    cap: str  # field 12: the key's own capabilities in lower case, the usable ones of the whole key in upper case
    expires: t.Optional[int]
    uids: t.Tuple[str, ...]
    subkeys: t.Tuple[Subkey, ...]

    def label(self) -> str:
        return f"key {self.fingerprint} ({self.uids[0]})" if self.uids else f"key {self.fingerprint}"


def normalize_fingerprint(value: str) -> str:
    """``value`` as gpg prints fingerprints (upper case, no spaces); KeyringError if it is not a full fingerprint."""
    text = "".join(value.split()).upper()
    if text.startswith("0X"):
        text = text[2:]
    if not _FINGERPRINT_RE.fullmatch(text):
        raise KeyringError(
            f"fingerprint {value!r}: expected the key's full fingerprint (40 hexadecimal digits, spaces allowed), "
            "not a key ID; gpg --fingerprint shows it"
        )
    return text


def read_key_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise KeyringError(f"cannot read the key file {path}: {exc.strerror or exc}") from None


def _as_bytes(key_data: t.Union[str, bytes]) -> bytes:
    return key_data.encode("utf-8") if isinstance(key_data, str) else bytes(key_data)


def _timestamp(value: t.Any) -> t.Optional[int]:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def _day(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(timestamp))


def _key_info(raw: t.Mapping[str, t.Any]) -> KeyInfo:
    # python-gnupg: 'subkeys' is a list of [keyid, cap, fingerprint, keygrip] (the cap is wrong in scan results
    # of some versions), 'subkey_info' maps the keyid to the fields of its 'sub'/'ssb' line.
    infos = raw.get("subkey_info") or {}
    subkeys = []
    for entry in raw.get("subkeys") or []:
        info = infos.get(entry[0]) or {}
        subkeys.append(
            Subkey(
                fingerprint=entry[2] or entry[0],
                cap=info.get("cap") or "",
                validity=info.get("trust") or "",
                expires=_timestamp(info.get("expires")),
            )
        )
    return KeyInfo(
        fingerprint=(raw.get("fingerprint") or raw.get("keyid") or "").upper(),
        kind=raw.get("type") or "pub",
        validity=raw.get("trust") or "",
        ownertrust=raw.get("ownertrust") or "",
        cap=raw.get("cap") or "",
        expires=_timestamp(raw.get("expires")),
        uids=tuple(raw.get("uids") or ()),
        subkeys=tuple(subkeys),
    )


def _gpg(home: str, *extra: str) -> t.Any:
    gnupg = _deps.require_gnupg()
    try:
        return gnupg.GPG(gnupghome=home, options=[*_GPG_OPTIONS, *extra])
    except (OSError, ValueError, RuntimeError) as exc:
        raise KeyringError(f"cannot run gpg with the GnuPG home {home}: {exc}") from None


def _gpg_said(result: t.Any) -> str:
    """The last line gpg wrote to stderr (status lines left out), for an error message."""
    lines = [
        line.strip()
        for line in str(getattr(result, "stderr", "") or "").splitlines()
        if line.strip() and not line.startswith("[GNUPG:]")
    ]
    return lines[-1] if lines else "no message from gpg"


@contextlib.contextmanager
def _scratch_home() -> t.Iterator[str]:
    """A throwaway GnuPG home (mode 0700, from mkdtemp), removed afterwards."""
    home = tempfile.mkdtemp(prefix="s3napback-gpg-")
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _refuse_private_armor(data: bytes, source: str) -> None:
    # Checked before gpg runs at all: a private key block is never written anywhere, not even to a scratch home.
    if any(marker in data for marker in _PRIVATE_ARMOR):
        raise KeyringError(
            f"{source} holds a SECRET key: hosts hold public keys only; "
            "give the public key instead (gpg --armor --export FINGERPRINT)"
        )


def _scan(scratch: str, data: bytes, source: str) -> t.List[KeyInfo]:
    """The keys in ``data``, as a dry-run import lists them; refuses data without keys and secret keys."""
    _refuse_private_armor(data, source)
    path = os.path.join(scratch, "scanned-key")
    with open(path, "wb") as handle:
        handle.write(data)
    gpg = _gpg(scratch)
    version = getattr(gpg, "version", None)
    if version and tuple(version[:2]) < (2, 1):
        # python-gnupg scans with a dry-run import from gpg 2.1 on; older gpg would list the packets instead
        raise KeyringError(f"gpg {'.'.join(map(str, version))} is too old: s3napback needs GnuPG 2.1 or later")
    # scan_keys (a file) rather than scan_keys_mem: the latter only exists from python-gnupg 0.5.1 on
    keys = [_key_info(raw) for raw in gpg.scan_keys(path)]
    os.unlink(path)
    if not keys:
        raise KeyringError(
            f"{source}: no OpenPGP public key found "
            "(expected an armored -----BEGIN PGP PUBLIC KEY BLOCK----- or a binary key export)"
        )
    if any(key.kind == "sec" for key in keys):  # a binary secret key export
        raise KeyringError(
            f"{source} holds a SECRET key: hosts hold public keys only; "
            "give the public key instead (gpg --armor --export FINGERPRINT)"
        )
    return keys


def scan_key_data(key_data: t.Union[str, bytes], *, source: str = "the key") -> t.List[KeyInfo]:
    """The public keys in ``key_data`` (armored or binary), without importing them anywhere."""
    data = _as_bytes(key_data)
    _refuse_private_armor(data, source)
    with _scratch_home() as scratch:
        return _scan(scratch, data, source)


def fingerprints_of(
    key_data: t.Union[str, bytes], *, expected_fingerprint: t.Optional[str] = None, source: str = "the key"
) -> t.List[str]:
    """The fingerprints of the public keys in ``key_data``; KeyringError if they are not ``[expected_fingerprint]``."""
    fingerprints = [key.fingerprint for key in scan_key_data(key_data, source=source)]
    _check_expected(fingerprints, expected_fingerprint, source)
    return fingerprints


def _expired(expires: t.Optional[int], now: float) -> bool:
    return expires is not None and expires <= now


def _unusable(key: KeyInfo, now: float) -> t.Optional[str]:
    """Why backups must not be encrypted to ``key``, or None when they can be."""
    if key.validity == "r":
        return f"{key.label()} is revoked; use the owner's current key"
    if key.validity == "e" or _expired(key.expires, now):
        when = f"expired on {_day(key.expires)}" if key.expires is not None else "has expired"
        return f"{key.label()} {when}; extend it (gpg --quick-set-expire) and export it again"
    if key.validity == "i":
        return f"{key.label()} is invalid (no valid self-signature)"
    if key.validity == "d":
        return f"{key.label()} is disabled in this keyring"
    if not ("e" in key.cap or any("e" in sub.cap for sub in key.subkeys)):
        return (
            f"{key.label()} cannot encrypt (it can only sign and certify), and backups are encrypted to it: "
            f"add an encryption subkey (gpg --quick-add-key {key.fingerprint} cv25519 encr) and export it again"
        )
    if any(c.isupper() for c in key.cap):  # gpg's own verdict on the whole key: "E" if it can encrypt now
        usable = "E" in key.cap
    else:  # an old gpg that does not list the usable capabilities
        usable = "e" in key.cap or any(
            "e" in sub.cap and sub.validity not in ("e", "r") and not _expired(sub.expires, now) for sub in key.subkeys
        )
    if not usable:
        return (
            f"{key.label()} has no usable encryption subkey (each one is expired or revoked); "
            "add or extend one (gpg --quick-add-key, --quick-set-expire) and export it again"
        )
    return None


def _check_usable(keys: t.Sequence[KeyInfo], source: str, now: float) -> None:
    for key in keys:
        problem = _unusable(key, now)
        if problem:
            raise KeyringError(f"{source}: {problem}")


def _check_expected(fingerprints: t.Sequence[str], expected: t.Optional[str], source: str) -> None:
    if expected is None:
        return
    want = normalize_fingerprint(expected)
    if list(fingerprints) != [want]:
        raise KeyringError(
            f"{source} holds key {', '.join(fingerprints)}, not the expected fingerprint {want}: "
            "wrong or swapped key file?"
        )


def _listing_options(home: str, check_mode: bool) -> t.Tuple[str, ...]:
    if check_mode and not os.path.isfile(os.path.join(home, "trustdb.gpg")):
        return ("--trust-model", "always")  # no trust database yet: do not let gpg create one
    return ()


def _home_keys(home: str, check_mode: bool) -> t.Optional[t.Dict[str, KeyInfo]]:
    """The public keys in ``home`` by fingerprint; None when ``home`` does not exist yet.

    gpg creates pubring.kbx and trustdb.gpg when it lists an empty home: without a keyring file, the home is
    known to be empty and gpg is not run (check mode must leave the home untouched).
    """
    if not os.path.exists(home):
        return None
    if not os.path.isdir(home):
        raise KeyringError(f"GnuPG home {home} exists but is not a directory")
    if not any(os.path.isfile(os.path.join(home, name)) for name in _KEYRING_FILES):
        return {}
    keys = [_key_info(raw) for raw in _gpg(home, *_listing_options(home, check_mode)).list_keys()]
    return {key.fingerprint: key for key in keys}


def _changed_by_import(result: t.Any) -> t.Set[str]:
    """The fingerprints an import added or changed: IMPORT_OK with a reason other than 0 ("not actually changed")."""
    return {
        str(entry["fingerprint"]).upper()
        for entry in getattr(result, "results", None) or []
        if entry.get("fingerprint") and entry.get("ok") not in (None, "0")
    }


def _would_change(home: str, fingerprints: t.Sequence[str], public_export: str, check_mode: bool) -> t.Set[str]:
    """Which of ``fingerprints`` (all in ``home``) importing ``public_export`` would change there.

    gpg decides, not a comparison of listings: a throwaway home gets the keys as ``home`` holds them, then the
    new export; gpg reports per key whether that brought anything new (a user ID, a subkey, a signature such as
    an extended expiry or a revocation). An older export of a key that was renewed since brings nothing.
    """
    extra = _listing_options(home, check_mode)
    current = _gpg(home, *extra).export_keys(list(fingerprints), armor=True)
    with _scratch_home() as merge:
        gpg = _gpg(merge)
        gpg.import_keys(current if isinstance(current, str) else str(current))
        return _changed_by_import(gpg.import_keys(public_export)) & set(fingerprints)


def _set_ownertrust(gpg: t.Any, home: str, fingerprints: t.Sequence[str], trust: str) -> None:
    level, _letter, value = _TRUST[trust]
    if hasattr(gpg, "trust_keys"):  # python-gnupg >= 0.4.2
        try:
            gpg.trust_keys(list(fingerprints), level)
        except ValueError as exc:
            raise KeyringError(f"gpg could not set the ownertrust in {home}: {exc}") from None
        return
    lines = "".join(f"{fingerprint}:{value}:\n" for fingerprint in fingerprints)
    argv = ["gpg", "--homedir", home, "--batch", "--no-tty", *_GPG_OPTIONS, "--import-ownertrust"]
    proc = subprocess.run(argv, input=lines.encode("ascii"), capture_output=True, check=False, timeout=120)
    if proc.returncode != 0:
        said = proc.stderr.decode(errors="replace").strip().splitlines() or ["no message from gpg"]
        raise KeyringError(f"gpg could not set the ownertrust in {home}: {said[-1]}")


def _create_home(home: str) -> None:
    try:
        os.makedirs(home, mode=0o700)
        os.chmod(home, 0o700)  # makedirs' mode is masked by the umask; gpg wants the home private
    except OSError as exc:
        raise KeyringError(f"cannot create the GnuPG home {home}: {exc.strerror or exc}") from None


def _trust_level(trust: str) -> str:
    if trust not in _TRUST:
        raise KeyringError(f"trust {trust!r}: expected one of {', '.join(TRUST_CHOICES)}")
    return _TRUST[trust][1]


def _prepare(
    scratch: str, data: bytes, source: str, expected: t.Optional[str], now: float
) -> t.Tuple[t.List[KeyInfo], str]:
    """Checks ``data`` in the scratch home; returns its keys as imported there and their public export."""
    scanned = _scan(scratch, data, source)
    _check_usable(scanned, source, now)
    fingerprints = [key.fingerprint for key in scanned]
    _check_expected(fingerprints, expected, source)
    gpg = _gpg(scratch)
    result = gpg.import_keys(data)
    if not set(fingerprints) <= {fpr.upper() for fpr in (result.fingerprints or [])}:
        raise KeyringError(f"{source}: gpg could not import it: {_gpg_said(result)}")
    # the same checks on the key as gpg holds it once imported (self-signatures verified, revocations applied)
    imported = [key for key in map(_key_info, gpg.list_keys()) if key.fingerprint in fingerprints]
    if sorted(key.fingerprint for key in imported) != sorted(fingerprints):
        raise KeyringError(f"{source}: gpg did not keep the key on import: {_gpg_said(result)}")
    if any(key.kind != "pub" for key in imported):  # pragma: no cover - refused by the scan already
        raise KeyringError(f"{source} holds a SECRET key: hosts hold public keys only")
    _check_usable(imported, source, now)
    exported = gpg.export_keys(fingerprints, armor=True)
    text = exported if isinstance(exported, str) else str(exported)
    if "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in text:
        raise KeyringError(f"{source}: gpg could not export the public key after import")
    by_fingerprint = {key.fingerprint: key for key in imported}
    return [by_fingerprint[fpr] for fpr in fingerprints], text


def ensure_public_key(
    home: str,
    key_data: t.Union[str, bytes],
    *,
    trust: str = "ultimate",
    expected_fingerprint: t.Optional[str] = None,
    check_mode: bool = False,
    source: str = "the key",
    now: t.Optional[float] = None,
) -> t.Dict[str, t.Any]:
    """Make ``home`` hold the public key(s) in ``key_data`` with the given ownertrust.

    Idempotent by fingerprint: a key already present with that ownertrust is left alone, unless ``key_data``
    brings something new that gpg would merge (a user ID, a subkey, a signature such as an extended expiry).
    In check mode nothing is written, the home is not even created, and ``changed`` says what a real run would do.

    Returns ``changed``, ``fingerprint`` (the first key's), ``fingerprints``, ``imported`` (a key was added or
    updated), ``trust_set`` (an ownertrust was changed), ``created_home`` and ``msg``.
    """
    letter = _trust_level(trust)
    data = _as_bytes(key_data)
    moment = time.time() if now is None else now
    _refuse_private_armor(data, source)
    with _scratch_home() as scratch:
        keys, public_export = _prepare(scratch, data, source, expected_fingerprint, moment)
    fingerprints = [key.fingerprint for key in keys]

    present = _home_keys(home, check_mode)
    old = present or {}
    for fingerprint in fingerprints:
        if fingerprint in old and old[fingerprint].validity == "r":
            raise KeyringError(
                f"{old[fingerprint].label()} is revoked in {home}; a revocation cannot be undone: "
                "remove the key (state=absent) and use the owner's current key"
            )
    known = [fpr for fpr in fingerprints if fpr in old]
    news = _would_change(home, known, public_export, check_mode) if known else set()
    to_import = [fpr for fpr in fingerprints if fpr not in old or fpr in news]
    to_trust = [fpr for fpr in fingerprints if fpr not in old or old[fpr].ownertrust != letter]
    created = present is None
    outcome: t.Dict[str, t.Any] = {
        "changed": created or bool(to_import) or bool(to_trust),
        "fingerprint": fingerprints[0],
        "fingerprints": fingerprints,
        "imported": bool(to_import),
        "trust_set": bool(to_trust),
        "created_home": created,
    }
    outcome["msg"] = _present_message(home, fingerprints, to_import, to_trust, trust, created, check_mode)
    if check_mode or not outcome["changed"]:
        return outcome

    if created:
        _create_home(home)
    gpg = _gpg(home)
    if to_import:
        result = gpg.import_keys(public_export)
        if not set(to_import) <= {fpr.upper() for fpr in (result.fingerprints or [])}:
            raise KeyringError(f"gpg could not import {', '.join(to_import)} into {home}: {_gpg_said(result)}")
    if to_trust:
        _set_ownertrust(gpg, home, to_trust, trust)
    # what the home holds now, as gpg sees it there
    after = _home_keys(home, False) or {}
    for fingerprint in fingerprints:
        key = after.get(fingerprint)
        if key is None:
            raise KeyringError(f"key {fingerprint} is missing from {home} after its import")
        if key.ownertrust != letter:
            raise KeyringError(
                f"{key.label()} has ownertrust {key.ownertrust!r} in {home}, not {trust}, after setting it"
            )
        problem = _unusable(key, moment)
        if problem:
            raise KeyringError(f"{home}: {problem}")
    return outcome


def _present_message(
    home: str,
    fingerprints: t.Sequence[str],
    to_import: t.Sequence[str],
    to_trust: t.Sequence[str],
    trust: str,
    created: bool,
    check_mode: bool,
) -> str:
    if not (created or to_import or to_trust):
        return f"{', '.join(fingerprints)} already in {home} with ownertrust {trust}"
    steps = []  # (what a check run would do, what a real run did)
    if created:
        steps.append((f"create {home}", f"created {home}"))
    if to_import:
        steps.append((f"import {', '.join(to_import)}", f"imported {', '.join(to_import)}"))
    if to_trust:
        what = f"the ownertrust of {', '.join(to_trust)} to {trust}"
        steps.append((f"set {what}", f"set {what}"))
    if check_mode:
        return "would " + ", ".join(step[0] for step in steps) + " (check mode: nothing changed)"
    return ", ".join(step[1] for step in steps)


def remove_public_key(home: str, fingerprints: t.Sequence[str], *, check_mode: bool = False) -> t.Dict[str, t.Any]:
    """Remove the public keys ``fingerprints`` from ``home``; nothing to do if they (or the home) are not there."""
    wanted = [normalize_fingerprint(fpr) for fpr in fingerprints]
    present = _home_keys(home, check_mode) or {}
    to_remove = [fpr for fpr in wanted if fpr in present]
    outcome: t.Dict[str, t.Any] = {
        "changed": bool(to_remove),
        "fingerprint": wanted[0] if wanted else None,
        "fingerprints": wanted,
        "removed": to_remove,
    }
    if not to_remove:
        outcome["msg"] = f"{', '.join(wanted)} not in {home}"
        return outcome
    if check_mode:
        outcome["msg"] = f"would remove {', '.join(to_remove)} from {home} (check mode: nothing changed)"
        return outcome
    gpg = _gpg(home)
    for fingerprint in to_remove:
        result = gpg.delete_keys(fingerprint)
        if str(result) != "ok":
            raise KeyringError(f"gpg could not remove {fingerprint} from {home}: {result} ({_gpg_said(result)})")
    left = [fpr for fpr in to_remove if fpr in (_home_keys(home, False) or {})]
    if left:
        raise KeyringError(f"gpg did not remove {', '.join(left)} from {home}")
    outcome["msg"] = f"removed {', '.join(to_remove)} from {home}"
    return outcome
