#!/usr/bin/python
# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gpg_key
short_description: Import and trust a public GPG key in a dedicated GnuPG home
version_added: 0.1.0
description:
  - Imports the public key given in O(key) or O(key_file) into the GnuPG home O(gnupghome) and sets its
    ownertrust to O(trust), so that s3napback (the C(GpgKeyring) of its config) can encrypt backups to it.
  - Idempotent by fingerprint. A key already in O(gnupghome) with the same ownertrust is left alone, unless
    the key given brings something new that gpg would merge (a user ID, a subkey, a signature such as an
    extended expiry). An older export of a key that was renewed since changes nothing.
  - Refuses secret keys, because hosts hold public keys only. An armored private key block is refused
    before C(gpg) even reads it.
  - Refuses revoked and expired keys, and keys that cannot encrypt, with a message that says which.
  - The key is checked in a throwaway GnuPG home first. O(gnupghome) only gets what C(gpg --export) writes
    there, which holds no secret key material.
  - With O(state=absent), removes the public key from O(gnupghome).
author:
  - s3napback contributors (@s3napback)
requirements:
  - python >= 3.9
  - python-gnupg (C(python3-gnupg) on Debian and Ubuntu; not the unrelated PyPI package C(gnupg))
  - gpg (GnuPG 2.1 or later)
options:
  gnupghome:
    description:
      - The GnuPG home directory that holds the keys, for example the one the C(GpgKeyring) directive of the
        s3napback config names.
      - Created with mode V(0700) if it does not exist yet (by O(state=present) only).
    type: path
    required: true
  key:
    description:
      - The public key, as ASCII-armored text (C(-----BEGIN PGP PUBLIC KEY BLOCK-----)).
      - Typically read on the controller with P(ansible.builtin.file#lookup).
      - Not logged, so that a private key given here by mistake is refused without being written to any log.
      - Mutually exclusive with O(key_file). One of them is required when O(state=present).
    type: str
  key_file:
    description:
      - Path of a file on the managed host that holds the public key, armored or binary.
      - Mutually exclusive with O(key).
    type: path
  fingerprint:
    description:
      - The fingerprint the key must have (the 40 hexadecimal digits that C(gpg --fingerprint) shows; spaces
        are allowed).
      - When O(key) or O(key_file) holds any other key, or more than one key, the task fails and nothing is
        imported. This protects against a swapped or tampered key file.
      - With O(state=absent), names the key to remove when neither O(key) nor O(key_file) is given.
    type: str
  trust:
    description:
      - The ownertrust to give the key.
      - V(none) is gpg's C(I do NOT trust).
      - s3napback encrypts with C(--trust-model always), so the ownertrust does not change what it can do. It
        matters to people who use C(gpg) with this home directly.
    type: str
    choices: [ultimate, full, marginal, none]
    default: ultimate
  state:
    description:
      - V(present) imports the key and sets its ownertrust.
      - V(absent) removes the public key. The key is named by O(fingerprint), or by O(key) or O(key_file).
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - s3napback.s3napback.attributes
attributes:
  check_mode:
    support: full
    details:
      - Checks the key as a real run does, and fails the same way on a bad key.
      - Writes nothing to O(gnupghome) and does not create it.
  diff_mode:
    support: none
  idempotent:
    support: full
notes:
  - The module never starts a C(gpg-agent); a keyring of public keys does not need one.
  - O(state=absent) does not remove secret keys, which the hosts are not meant to hold.
"""

EXAMPLES = r"""
- name: Import the backup recipient's public key into the s3napback keyring
  s3napback.s3napback.gpg_key:
    gnupghome: /etc/s3napback/gnupg
    key: "{{ lookup('ansible.builtin.file', 'files/backup-recipient.asc') }}"
    fingerprint: 0A3B 76AB E33C 5663 7A2F  B52C BFED 0F72 ABD8 436A
  register: __s3napback_gpg_key

- name: Import a key file that is already on the host, with full ownertrust
  s3napback.s3napback.gpg_key:
    gnupghome: /etc/s3napback/gnupg
    key_file: /root/backup-recipient.asc
    trust: full

- name: Remove a retired recipient's key
  s3napback.s3napback.gpg_key:
    gnupghome: /etc/s3napback/gnupg
    fingerprint: 0A3B76ABE33C56637A2FB52CBFED0F72ABD8436A
    state: absent
"""

RETURN = r"""
fingerprint:
  description: The fingerprint of the key (the first one when the key text holds several).
  returned: success
  type: str
  sample: 0A3B76ABE33C56637A2FB52CBFED0F72ABD8436A
fingerprints:
  description: The fingerprints of all the keys in O(key) or O(key_file), or O(fingerprint).
  returned: success
  type: list
  elements: str
  sample: [0A3B76ABE33C56637A2FB52CBFED0F72ABD8436A]
imported:
  description: Whether a key was (or in check mode, would be) added to O(gnupghome) or updated there.
  returned: when O(state=present)
  type: bool
  sample: true
trust_set:
  description: Whether an ownertrust was (or in check mode, would be) changed.
  returned: when O(state=present)
  type: bool
  sample: true
created_home:
  description: Whether O(gnupghome) was (or in check mode, would be) created.
  returned: when O(state=present)
  type: bool
  sample: false
removed:
  description: The fingerprints removed (in check mode, that would be removed) from O(gnupghome).
  returned: when O(state=absent)
  type: list
  elements: str
  sample: []
msg:
  description: What was done (in check mode, what would be done), or on failure the cause, in one line.
  returned: always
  type: str
  sample: 0A3B76ABE33C56637A2FB52CBFED0F72ABD8436A already in /etc/s3napback/gnupg with ownertrust ultimate
"""

import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.s3napback.s3napback.plugins.module_utils._ansible import run_engine
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback import gpgkeys


def key_data(params: t.Mapping[str, t.Any]) -> t.Tuple[t.Optional[bytes], str]:
    """The key given (O(key) or the content of O(key_file)) and how to name it in messages."""
    if params["key_file"] is not None:
        return gpgkeys.read_key_file(params["key_file"]), f"key_file {params['key_file']}"
    if params["key"] is not None:
        return params["key"].encode("utf-8"), "the key option"
    return None, "fingerprint"


def present(params: t.Mapping[str, t.Any], check_mode: bool) -> t.Dict[str, t.Any]:
    data, source = key_data(params)
    return gpgkeys.ensure_public_key(
        params["gnupghome"],
        data or b"",
        trust=params["trust"],
        expected_fingerprint=params["fingerprint"],
        check_mode=check_mode,
        source=source,
    )


def absent(params: t.Mapping[str, t.Any], check_mode: bool) -> t.Dict[str, t.Any]:
    data, source = key_data(params)
    if data is None:
        fingerprints = [gpgkeys.normalize_fingerprint(params["fingerprint"])]
    else:
        fingerprints = gpgkeys.fingerprints_of(data, expected_fingerprint=params["fingerprint"], source=source)
    return gpgkeys.remove_public_key(params["gnupghome"], fingerprints, check_mode=check_mode)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "gnupghome": {"type": "path", "required": True},
            # A public key is no secret, but a private key pasted here by mistake must not reach the host's journal
            # ("Invoked with ...", logged before any module code runs) nor the -vvvv output: no_log, like a secret.
            "key": {"type": "str", "no_log": True},
            "key_file": {"type": "path"},
            "fingerprint": {"type": "str"},
            "trust": {"type": "str", "default": "ultimate", "choices": ["ultimate", "full", "marginal", "none"]},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        },
        mutually_exclusive=[("key", "key_file")],
        required_if=[
            ("state", "present", ("key", "key_file"), True),
            ("state", "absent", ("fingerprint", "key", "key_file"), True),
        ],
        supports_check_mode=True,
    )
    action = absent if module.params["state"] == "absent" else present
    # run_engine ends the task with fail_json: a one-line message for engine errors, never a traceback
    result = run_engine(module, action, module.params, module.check_mode)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
