#!/usr/bin/python
# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_info
short_description: Report and verify the backups s3napback stored for a host
version_added: 0.2.0
description:
  - Lists, for each backup set of a host, every committed backup in the bucket (FULL or DIFF, the backup it builds
    on, slot, time, age, bytes read and stored, chunks) and the moments the set can be restored to, as the
    C(s3napback list) command does.
  - With O(verify=objects) (the default) or O(verify=data), also checks that the backups can be restored, as
    C(s3napback verify) does, and gives each set a status, with every problem in one line naming its object.
    A backup is good when it and every backup its chain needs pass the checks.
  - Set statuses, from the worst, V(missing) (no committed backup at all), V(broken) (a committed backup misses
    an object, has one of the wrong size or checksum, or misses a backup of its chain, or a manifest of the set
    cannot be read), V(stale) (the newest good backup is older than O(stale_hours)), V(ok). RV(status) is the
    worst of them.
  - Reads only; never changes anything, in the bucket or on the host.
author:
  - s3napback contributors (@s3napback)
requirements:
  - python >= 3.9
  - boto3
options:
  config:
    description:
      - Path of an s3napback configuration file on the managed host.
      - Its bucket, endpoint, prefix, credentials (C(S3KeyFile)), C(Parallel), C(HostName) and sets are used.
      - The S3 credentials are read from the file named by its C(S3KeyFile) directive; they are never returned.
    type: path
    default: /etc/s3napback/s3napback.conf
  host:
    description:
      - The host whose backups are reported, as named in the bucket (its C(HostName)).
      - Defaults to the C(HostName) of O(config). Another host's backups can be reported too.
    type: str
  sets:
    description:
      - Report only these sets, by name (a directory set by its path, V(/etc)).
      - A set that has no committed backup is reported with status V(missing).
      - The default V([]) reports the sets of O(config) and every other set the bucket holds anything of for
        O(host).
    type: list
    elements: str
    default: []
  verify:
    description:
      - How deeply to check that the backups can be restored.
      - V(none) checks nothing and reports what the catalog says; every set has status V(unchecked).
      - V(objects) checks that every object of every committed backup is in the bucket with the size its manifest
        gives. A listing, cheap.
      - V(data) also downloads every object and checks its SHA-256. This reads the whole bucket folder of the
        host.
    type: str
    choices: [none, objects, data]
    default: objects
  stale_hours:
    description:
      - A set whose newest good backup is older than this many hours has status V(stale).
      - By default, age alone never makes a set stale.
      - Ignored with O(verify=none).
    type: float
extends_documentation_fragment:
  - s3napback.s3napback.attributes
  - s3napback.s3napback.attributes.action_group
attributes:
  check_mode:
    support: full
    details:
      - The module only reads; check mode runs it as usual.
  diff_mode:
    support: N/A
    details:
      - The module changes nothing.
  idempotent:
    support: full
notes:
  - The task does not fail because a set is V(missing), V(broken) or V(stale); test RV(status) (the playbook
    C(s3napback.s3napback.verify) fails such hosts). It fails when the config, the credentials or the bucket
    are unusable.
  - Verifying needs no key. To decrypt and read every archive as well, run C(s3napback verify --gnupghome DIR)
    with the private key.
seealso:
  - module: s3napback.s3napback.restore
    description: Restore a set to one of the moments reported here.
"""

EXAMPLES = r"""
- name: Check that every set of the host has restorable backups, at most 36 hours old
  s3napback.s3napback.backup_info:
    config: /etc/s3napback/s3napback.conf
    stale_hours: 36
  register: __s3napback_info

- name: Fail when a set is not ok
  ansible.builtin.assert:
    that: __s3napback_info.status == 'ok'
    fail_msg: "{{ __s3napback_info.problems | join('; ') }}"

- name: Download and check every stored byte of a lost host's /home
  s3napback.s3napback.backup_info:
    host: web1.example.com
    sets:
      - /home
    verify: data
  register: __s3napback_web1_home

- name: List the backups only, without checking them
  s3napback.s3napback.backup_info:
    verify: none
  register: __s3napback_catalog
"""

RETURN = r"""
host:
  description: The host whose backups were reported, as named in the bucket.
  returned: success
  type: str
  sample: web1.example.com
status:
  description:
    - The worst status of RV(sets[].status), V(missing) before V(broken), V(stale) and V(ok).
    - V(unchecked) with O(verify=none).
    - V(missing) also when the host has no set at all, in O(config) or in the bucket.
  returned: success
  type: str
  choices: [ok, stale, broken, missing, unchecked]
  sample: ok
problems:
  description: Every problem of every set, each prefixed with the set's name.
  returned: success
  type: list
  elements: str
  sample: ["/etc: chunk chunk-000001.tar.zst.gpg of backup 20250131-020000-full is missing from the bucket"]
sets:
  description: One report per set, in the order of the set names.
  returned: success
  type: list
  elements: dict
  contains:
    host:
      description: The host, as named in the bucket.
      returned: always
      type: str
      sample: web1.example.com
    set:
      description: The set's name.
      returned: always
      type: str
      sample: /etc
    status:
      description:
        - V(ok), V(stale), V(broken) or V(missing) (see the module's description); V(unchecked) with O(verify=none).
      returned: always
      type: str
      choices: [ok, stale, broken, missing, unchecked]
      sample: ok
    level:
      description: The O(verify) level of the report.
      returned: always
      type: str
      sample: objects
    problems:
      description: The set's problems, one line each, naming the backup and object; V([]) with O(verify=none).
      returned: always
      type: list
      elements: str
      sample: []
    backups:
      description: Every committed backup of the set, oldest first.
      returned: always
      type: list
      elements: dict
      contains:
        host:
          description: The host.
          returned: always
          type: str
          sample: web1.example.com
        set:
          description: The set.
          returned: always
          type: str
          sample: /etc
        backup_id:
          description: The backup's id, the name of its folder in the bucket.
          returned: always
          type: str
          sample: 20250131-020000-diff
        kind:
          description: V(FULL) or V(DIFF).
          returned: always
          type: str
          sample: DIFF
        base:
          description: The backup a DIFF builds on; V(null) for a FULL.
          returned: always
          type: str
          sample: 20250130-020000-diff
        full:
          description: The FULL that starts the backup's chain.
          returned: always
          type: str
          sample: 20250127-020000-full
        chain:
          description: The backups a restore of this one applies, oldest first; V([]) when one of them is gone.
          returned: always
          type: list
          elements: str
          sample: [20250127-020000-full, 20250130-020000-diff, 20250131-020000-diff]
        restorable:
          description: Whether the catalog holds the whole chain (the objects are checked by O(verify)).
          returned: always
          type: bool
          sample: true
        slot:
          description: The retention slot the backup occupies.
          returned: always
          type: int
          sample: 4
        day:
          description: The schedule day of the backup.
          returned: always
          type: str
          sample: "2025-01-31"
        finished:
          description: When the backup was committed (UTC).
          returned: always
          type: str
          sample: "2025-01-31T02:00:41Z"
        age_hours:
          description: Hours since RV(sets[].backups[].finished).
          returned: always
          type: float
          sample: 7.5
        bytes_read:
          description: Bytes of the uncompressed archive stream.
          returned: always
          type: int
          sample: 10485760
        bytes_stored:
          description: Bytes stored in the bucket.
          returned: always
          type: int
          sample: 2097152
        chunks:
          description: Number of chunks.
          returned: always
          type: int
          sample: 2
        partial_restore:
          description: Whether the backup has a member index, which partial restores need.
          returned: always
          type: bool
          sample: true
    restorable:
      description: The moments the catalog can restore the set to, oldest first.
      returned: always
      type: list
      elements: dict
      sample: [{backup_id: 20250131-020000-diff, finished: "2025-01-31T02:00:41Z"}]
    oldest_restorable:
      description: When the oldest restorable backup finished, per the catalog; V(null) when none is.
      returned: always
      type: str
      sample: "2025-01-27T02:01:10Z"
    newest_restorable:
      description: When the newest restorable backup finished, per the catalog; V(null) when none is.
      returned: always
      type: str
      sample: "2025-01-31T02:00:41Z"
    newest:
      description: The newest committed backup; V(null) when there is none.
      returned: always
      type: str
      sample: 20250131-020000-diff
    newest_age_hours:
      description: Its age in hours; V(null) when there is none.
      returned: always
      type: float
      sample: 7.5
    bytes_stored:
      description: Bytes stored for all the set's committed backups.
      returned: always
      type: int
      sample: 10485760
    incomplete:
      description:
        - Folders without a manifest. Those of failed runs are removed by the next backup; those in RV(sets[].lost)
          are kept.
      returned: always
      type: list
      elements: str
      sample: []
    lost:
      description:
        - Of RV(sets[].incomplete), the backups that committed backups build on - their manifest was deleted or
          damaged, so the backups built on them cannot be restored. They are kept while those backups are, and
          retired with them.
      returned: always
      type: list
      elements: str
      sample: []
    good:
      description: The backups that passed the checks, with their whole chain, oldest first.
      returned: when O(verify) is not V(none)
      type: list
      elements: str
      sample: [20250127-020000-full, 20250131-020000-diff]
    last_good:
      description: The newest good backup; V(null) when none is.
      returned: when O(verify) is not V(none)
      type: str
      sample: 20250131-020000-diff
    last_good_finished:
      description: When it finished (UTC); V(null) when no backup is good.
      returned: when O(verify) is not V(none)
      type: str
      sample: "2025-01-31T02:00:41Z"
    last_good_age_hours:
      description: Its age in hours; V(null) when no backup is good.
      returned: when O(verify) is not V(none)
      type: float
      sample: 7.5
    restorable_from:
      description: The oldest moment a good backup restores to; V(null) when no backup is good.
      returned: when O(verify) is not V(none)
      type: str
      sample: "2025-01-27T02:01:10Z"
    restorable_to:
      description: The newest moment a good backup restores to; V(null) when no backup is good.
      returned: when O(verify) is not V(none)
      type: str
      sample: "2025-01-31T02:00:41Z"
    stale_hours:
      description: O(stale_hours), as given.
      returned: when O(verify) is not V(none)
      type: float
      sample: 36.0
"""

import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.s3napback.s3napback.plugins.module_utils._ansible import open_store, run_engine, set_name
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.cli import setup_logging
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.config import load_config
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.inventory import (
    describe_set,
    load_or_problem,
    now_utc,
    set_names,
)
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.verify import verify_named_set

# The host's status is its worst set's, in this order.
SEVERITY = ("ok", "unchecked", "stale", "broken", "missing")


def report_sets(params: t.Mapping[str, t.Any]) -> t.Dict[str, t.Any]:
    config = load_config(params["config"])
    setup_logging(False, config)  # LogFile, and keeps botocore's debug output (headers, bodies) out of every log
    store = open_store(config)
    host = params["host"] or config.host_name
    if params["sets"]:
        names = list(dict.fromkeys(set_name(config, raw) for raw in params["sets"]))
    else:
        names = set_names(store, config.s3_prefix, host, [s.name for s in config.sets])
    now = now_utc()
    reports = []
    for name in names:
        if params["verify"] == "none":
            listing, problem = load_or_problem(store, config.s3_prefix, host, name)
            report = describe_set(listing, host, name, now)
            problems = [problem] if problem else []  # a manifest that cannot be read: broken without looking further
            report.update(status="broken" if problem else "unchecked", level="none", problems=problems)
        else:
            report = verify_named_set(
                store,
                config.s3_prefix,
                host,
                name,
                level=params["verify"],
                parallel=config.parallel,
                stale_hours=params["stale_hours"],
                now=now,
            )
        reports.append(report)
    problems = [f"{r['set']}: {problem}" for r in reports for problem in r["problems"]]
    if reports:
        status = max((r["status"] for r in reports), key=SEVERITY.index)
    else:
        status = "missing"
        problems.append(f"host {host} has no backup set, neither in {config.source} nor in the bucket")
    return {"host": host, "status": status, "problems": problems, "sets": reports}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "config": {"type": "path", "default": "/etc/s3napback/s3napback.conf"},
            "host": {"type": "str"},
            "sets": {"type": "list", "elements": "str", "default": []},
            "verify": {"type": "str", "default": "objects", "choices": ["none", "objects", "data"]},
            "stale_hours": {"type": "float"},
        },
        supports_check_mode=True,
    )
    result = run_engine(module, report_sets, module.params)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
