#!/usr/bin/python
# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: restore
short_description: Restore a backup set of s3napback from S3 onto the managed host
version_added: 0.2.0
description:
  - Restores the set O(set) as it was at the moment O(at) into the folder O(dest) on the managed host, as the
    C(s3napback restore) command does.
  - The restore takes the newest FULL backup at or before the moment, then its DIFFs in order, with GNU tar's
    incremental semantics, so files deleted between backups stay deleted. The set's path is recreated under
    O(dest) (O(dest=/srv/r) gives C(/srv/r/home/foobar/...)).
  - Every chunk is checked against its manifest's size and SHA-256 before gpg sees it. Into an empty or new
    O(dest), nothing is moved into place until every chunk of the chain has passed, so a damaged backup leaves
    O(dest) as it was (see O(salvage)).
  - The backup of another host can be restored too, for example after losing it (disaster recovery). O(host)
    names the host the backup was made on.
  - Decrypting needs the backup's B(private) key, which the backed-up hosts do not hold. Give it in
    O(private_key). It is imported into a temporary GnuPG home on a tmpfs (never on disk), used for this restore
    only, and removed with its C(gpg-agent) when the module ends, also when the restore fails. Or name a GnuPG
    home on the managed host that holds it with O(gnupghome).
author:
  - s3napback contributors (@s3napback)
requirements:
  - python >= 3.9
  - boto3
  - GNU tar
  - zstd (or gzip, for backups made with C(Compression gzip))
  - gpg (GnuPG 2.1 or later), with C(gpgconf), for encrypted backups
options:
  config:
    description:
      - Path of an s3napback configuration file on the managed host.
      - Only its bucket, endpoint, prefix, credentials (C(S3KeyFile)), C(Parallel) and C(HostName) are used; it
        need not list O(set). On a replacement host, the config of the lost host (or any config for the same
        bucket) does.
      - The S3 credentials are read from the file named by its C(S3KeyFile) directive; they are never returned.
    type: path
    default: /etc/s3napback/s3napback.conf
  set:
    description:
      - The set to restore, by name, as C(s3napback list) shows it.
      - A directory set is named by its path (V(/etc)).
    type: str
    required: true
  host:
    description:
      - The host whose backup is restored, as named in the bucket (its C(HostName)).
      - Defaults to the C(HostName) of O(config), that is the managed host's own backups.
      - Name another host to restore its backup here (disaster recovery).
    type: str
  at:
    description:
      - The moment to restore.
      - V(latest) (the newest backup), a backup id (V(20250131-020000-full)), a day (V(2025-01-31), meaning the
        newest backup of that day or before) or a time (V(2025-01-31T04:00:00Z); without a zone, the managed
        host's local time).
    type: str
    default: latest
  dest:
    description:
      - The folder to restore into. It must be empty or not exist, unless O(overwrite=true).
      - Created with mode V(0700) when it does not exist.
    type: path
    required: true
  paths:
    description:
      - Restore only these files or folders of the set (a partial restore), absolute or relative to the set's
        folder, named as they were at the moment O(at).
      - Only the chunks that hold them are downloaded (backups made with s3napback 0.2 or later, which have a
        member index).
      - The default V([]) restores the whole set.
    type: list
    elements: str
    default: []
  overwrite:
    description:
      - Restore into a folder that is not empty. Files of the backup replace files of the same name; other files
        are left alone.
      - Every chunk is downloaded and checked first, then again to extract.
    type: bool
    default: false
  salvage:
    description:
      - After a damaged chunk, keep in O(dest) the files restored before it (the file the damage cut is left out)
        instead of leaving O(dest) as it was. The task still fails and RV(msg) says what was kept.
    type: bool
    default: false
  load:
    description:
      - For a Subversion set, create a new repository at O(dest) and load the dumps of the chain into it, in order.
      - For a PostgreSQL set of one database, O(dest) is the name of a new database to create and C(pg_restore)
        into, as the set's C(User).
      - For a MySQL set of one database, O(dest) is the name of a new database to create and load the dump into,
        on the server and with the C(DefaultsFile) of the backup when that file exists on the host.
      - A failed load removes the repository or database it created.
      - Without it, a dump is restored as files in O(dest), one per backup of the chain, to load in the order of
        their names (C(svnadmin load), C(pg_restore), C(mariadb) (C(.sql) of MySQL), or C(psql -f) for C(all)).
    type: bool
    default: false
  private_key:
    description:
      - The backup's private key, ASCII-armored (C(-----BEGIN PGP PRIVATE KEY BLOCK-----)), without a passphrase.
      - Typically read on the controller from a file with P(ansible.builtin.file#lookup), or from a vaulted
        variable.
      - Imported with C(gpg --import) (the key is passed on standard input) into a new GnuPG home of mode V(0700)
        in C(/dev/shm) or C(/run), whichever is a writable tmpfs; the task fails when neither is. The home and
        its C(gpg-agent) are removed before the module returns, whatever the outcome.
      - Never logged, never returned.
      - Mutually exclusive with O(gnupghome).
    type: str
  gnupghome:
    description:
      - An existing GnuPG home on the managed host that holds the backup's private key.
      - Mutually exclusive with O(private_key). With neither, gpg's default home of the user the module runs as
        is used.
    type: path
extends_documentation_fragment:
  - s3napback.s3napback.attributes
  - s3napback.s3napback.attributes.action_group
attributes:
  check_mode:
    support: partial
    details:
      - Reads the catalog in the bucket and returns the backup the moment O(at) resolves to (RV(target)) and the
        chain a restore would apply (RV(chain)), with what it would download at most (RV(bytes_total)).
      - Checks O(dest) as a real run does, but downloads no chunk, imports no key and writes nothing besides its
        lines in the config's C(LogFile).
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - A restore always reports a change; a failed one with O(salvage=true) too, when it kept what came before
        the damage in O(dest). A second run into the same O(dest) fails, because O(dest) is not empty any more,
        unless O(overwrite=true).
notes:
  - Warnings of the restore, for example a path of O(paths) that did not exist at the moment O(at), are shown as
    the task's warnings.
  - Run the task as root (C(become)) to restore owners and groups; as another user, the files belong to that
    user.
  - A restore of another host's backup does not change which host the managed host backs up as; its own
    C(HostName) stays as it was.
  - If the module process is killed (not a failed restore, which cleans up), the temporary GnuPG home of
    O(private_key) stays on the tmpfs until the next reboot; its path is C(/dev/shm/s3napback-gnupg-*) or
    C(/run/s3napback-gnupg-*).
seealso:
  - module: s3napback.s3napback.backup_info
    description: Check which backups can be restored, and to which moments, before restoring.
"""

EXAMPLES = r"""
- name: Restore /etc as it was last night into a new folder, with the key from the controller
  s3napback.s3napback.restore:
    set: /etc
    dest: /srv/restore
    private_key: "{{ lookup('ansible.builtin.file', 'files/backup-private.asc') }}"
  no_log: true  # the key passes through the task's arguments
  register: __s3napback_restore

- name: Restore a lost host's /home onto this one (disaster recovery)
  s3napback.s3napback.restore:
    config: /etc/s3napback/s3napback.conf
    host: web1.example.com
    set: /home
    at: "2025-01-31"
    dest: /srv/web1-home
    gnupghome: /root/restore-gnupg

- name: Restore two files of a set, downloading only the chunks that hold them
  s3napback.s3napback.restore:
    set: /srv/www
    paths:
      - /srv/www/index.html
      - conf/site.yml
    dest: /tmp/www-files
    gnupghome: /root/restore-gnupg

- name: Show which backups a restore of 2025-01-31 would apply, without downloading anything
  s3napback.s3napback.restore:
    set: /etc
    at: "2025-01-31"
    dest: /srv/restore
  check_mode: true
  register: __s3napback_restore_plan
"""

RETURN = r"""
set:
  description: The set restored (in check mode, that would be restored).
  returned: success
  type: str
  sample: /etc
host:
  description: The host whose backup was restored, as named in the bucket.
  returned: success
  type: str
  sample: web1.example.com
target:
  description: The backup the moment O(at) resolved to, the last one applied.
  returned: success
  type: str
  sample: 20250131-020000-diff
chain:
  description: The backups applied in order, the FULL first and RV(target) last.
  returned: success
  type: list
  elements: str
  sample: [20250127-020000-full, 20250128-020000-diff, 20250131-020000-diff]
destination:
  description: The absolute path of O(dest).
  returned: success
  type: str
  sample: /srv/restore
paths:
  description: O(paths), as given; V([]) for a whole restore.
  returned: success
  type: list
  elements: str
  sample: []
bytes_downloaded:
  description: Bytes downloaded from the bucket (V(0) in check mode).
  returned: success
  type: int
  sample: 2097152
bytes_total:
  description: Bytes stored for the whole chain, its member indexes included (a whole restore downloads all but those).
  returned: success
  type: int
  sample: 2097152
bytes_written:
  description: Bytes of the uncompressed archive stream fed to C(tar) (V(0) in check mode).
  returned: success
  type: int
  sample: 10485760
chunks:
  description: Chunks downloaded; with O(overwrite=true) each is downloaded twice, once to check it, once to extract it.
  returned: success
  type: int
  sample: 3
indexes:
  description: Member indexes downloaded (partial restores read one per backup of the chain).
  returned: success
  type: int
  sample: 0
chunks_total:
  description: Objects stored for the chain, member indexes included.
  returned: success
  type: int
  sample: 5
members:
  description: With O(paths), how many files and folders were restored; V(null) for a whole restore.
  returned: success
  type: int
  sample: null
temporary_gnupghome:
  description:
    - The temporary GnuPG home the O(private_key) was imported into. It no longer exists when the module returns.
  returned: when O(private_key) was given and the module got as far as creating it (not in check mode)
  type: str
  sample: /dev/shm/s3napback-gnupg-k2v9x1wq
msg:
  description: On failure, the cause in one line.
  returned: failure
  type: str
  sample: "destination /srv/restore is not empty; choose an empty or new folder, or overwrite it on purpose"
"""

import os
import re
import shutil
import tempfile
import time
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.s3napback.s3napback.plugins.module_utils._ansible import (
    open_store,
    run_engine_reporting,
    set_name,
)
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.catalog import set_prefix
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.cli import setup_logging
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.config import load_config
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.errors import (
    KeyringError,
    RestoreError,
    S3napbackError,
)
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.restore import (
    SalvagedError,
    check_restore,
    restore_set,
)

# Where the temporary GnuPG home of private_key may go: the first that is a writable tmpfs.
# mkdtemp makes a new, unguessable 0700 folder there: no race with other users of the shared folder.
TMPFS_CANDIDATES = ("/dev/shm", "/run")  # noqa: S108
KEY_HOME_PREFIX = "s3napback-gnupg-"
ARMORED_PRIVATE_KEY = "-----BEGIN PGP PRIVATE KEY BLOCK-----"


def _unescape(field: str) -> str:
    """/proc/mounts writes a space as \\040, a tab as \\011, and so on."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def filesystem_type(path: str, mounts: str) -> t.Optional[str]:
    """The type of the file system ``path`` is on, from the text of /proc/mounts (the last, innermost mount)."""
    real = os.path.realpath(path)
    best = ""
    found = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape(fields[1])
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, found = point, fields[2]
    return found


def make_key_home() -> str:
    """A new 0700 folder on a tmpfs for the temporary GnuPG home: the secret key never reaches a disk."""
    try:
        with open("/proc/mounts", encoding="utf-8", errors="replace") as handle:
            mounts = handle.read()
    except OSError:
        mounts = ""
    for candidate in TMPFS_CANDIDATES:
        if (
            os.path.isdir(candidate)
            and os.access(candidate, os.W_OK | os.X_OK)
            and filesystem_type(candidate, mounts) == "tmpfs"
        ):
            return tempfile.mkdtemp(prefix=KEY_HOME_PREFIX, dir=candidate)  # mode 0700
    raise RestoreError(
        f"private_key: no writable tmpfs for the temporary GnuPG home ({' and '.join(TMPFS_CANDIDATES)} are not "
        "one); mount a tmpfs on /dev/shm, or import the key into a GnuPG home on the host and give gnupghome"
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())[-300:]


def import_key(module: t.Any, home: str, key: str) -> None:
    """``gpg --import`` of the armored private key, given on standard input (never on the command line)."""
    gpg = module.get_bin_path("gpg")
    if gpg is None:
        raise KeyringError("private_key: gpg is not installed on the host; install GnuPG (package gnupg)")
    base = [gpg, "--batch", "--no-tty", "--homedir", home]
    rc, _out, err = module.run_command([*base, "--import"], data=key, check_rc=False)
    if rc != 0:
        raise KeyringError(f"private_key: gpg --import failed: {_one_line(err)}")
    rc, out, err = module.run_command([*base, "--with-colons", "--list-secret-keys"], check_rc=False)
    if rc != 0 or not any(line.startswith("sec:") for line in out.splitlines()):
        raise KeyringError(
            "private_key: gpg imported no secret key from it; give the ASCII-armored private key "
            "(gpg --armor --export-secret-keys FINGERPRINT)"
        )


def remove_key_home(module: t.Any, home: str) -> None:
    """Stop the agent gpg started for ``home`` and delete the folder with the key. Never raises."""
    gpgconf = module.get_bin_path("gpgconf")
    if gpgconf is not None:
        module.run_command([gpgconf, "--homedir", home, "--kill", "all"], check_rc=False)
        # a socket folder under /run/user/UID/gnupg, if gpg made one for this home
        module.run_command([gpgconf, "--homedir", home, "--remove-socketdir"], check_rc=False)
    for _attempt in range(3):  # a stopping agent may still be removing its sockets
        shutil.rmtree(home, ignore_errors=True)
        if not os.path.lexists(home):
            return
        time.sleep(0.2)
    module.warn(f"could not remove the temporary GnuPG home {home}, which holds the private key; remove it")


# The engine's messages name the command's flags; a task names the module's options.
OPTION_NAMES = {
    "--at": "at",
    "--to": "dest",
    "--path": "paths",
    "--overwrite": "overwrite",
    "--salvage": "salvage",
    "--load": "load",
    "--gnupghome": "private_key or gnupghome",
}
FLAG = re.compile(r"(?<![\w-])(--(?:at|to|path|overwrite|salvage|load|gnupghome))(?![\w-])")


def in_option_words(message: str) -> str:
    return FLAG.sub(lambda match: OPTION_NAMES[match.group(1)], message)


def restore(module: t.Any, params: t.Mapping[str, t.Any], report: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    if params["gnupghome"] is not None and not os.path.isdir(params["gnupghome"]):
        raise KeyringError(f"gnupghome {params['gnupghome']} does not exist or is not a folder")
    config = load_config(params["config"])
    setup_logging(False, config)  # LogFile, and keeps botocore's debug output (headers, bodies) out of every log
    store = open_store(config)
    host = params["host"] or config.host_name
    name = set_name(config, params["set"])
    if module.check_mode:  # every check a restore makes before it downloads, and the chain it would apply
        folder = set_prefix(config.s3_prefix, host, name)
        args = (params["dest"], params["at"], params["paths"], params["overwrite"], params["load"])
        return check_restore(store, folder, host, name, *args)[1].as_dict()

    def run(gnupghome: t.Optional[str]) -> t.Dict[str, t.Any]:
        return restore_set(
            store,
            prefix=config.s3_prefix,
            host=host,
            name=name,
            destination=params["dest"],
            at=params["at"],
            gnupghome=gnupghome,
            parallel=config.parallel,
            paths=params["paths"],
            overwrite=params["overwrite"],
            salvage=params["salvage"],
            load=params["load"],
        ).as_dict()

    if params["private_key"] is None:
        return run(params["gnupghome"])
    home = make_key_home()
    report["temporary_gnupghome"] = home
    try:
        import_key(module, home, params["private_key"])
        return run(home)
    finally:
        remove_key_home(module, home)


def restore_in_option_words(module: t.Any, params: t.Mapping[str, t.Any], report: t.Dict[str, t.Any]) -> t.Any:
    """:func:`restore`, with the engine's messages naming the module's options instead of the command's flags."""
    try:
        return restore(module, params, report)
    except S3napbackError as exc:
        if isinstance(exc, SalvagedError):
            report["changed"] = True  # failed, but what came before the damage is in dest now
        worded = in_option_words(str(exc))
        if worded == str(exc):
            raise
        raise RestoreError(worded) from None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "config": {"type": "path", "default": "/etc/s3napback/s3napback.conf"},
            "set": {"type": "str", "required": True},
            "host": {"type": "str"},
            "at": {"type": "str", "default": "latest"},
            "dest": {"type": "path", "required": True},
            "paths": {"type": "list", "elements": "str", "default": []},
            "overwrite": {"type": "bool", "default": False},
            "salvage": {"type": "bool", "default": False},
            "load": {"type": "bool", "default": False},
            "private_key": {"type": "str", "no_log": True},
            "gnupghome": {"type": "path"},
        },
        mutually_exclusive=[("private_key", "gnupghome")],
        supports_check_mode=True,
    )
    key = module.params["private_key"]
    if key is not None and ARMORED_PRIVATE_KEY not in key:
        module.fail_json(msg=f"private_key: expected an ASCII-armored private key ({ARMORED_PRIVATE_KEY})")
    report: t.Dict[str, t.Any] = {}
    # run_engine_reporting ends the task with one line on an error, and still returns the temporary home's path
    result = run_engine_reporting(module, report, restore_in_option_words, module, module.params, report)
    # "warnings" is Ansible's own key in a result: the restore's warnings are shown as the task's warnings
    for warning in result.pop("warnings"):
        module.warn(f"{result['set']}: {warning}")
    module.exit_json(changed=True, **result, **report)


if __name__ == "__main__":
    main()
