#!/usr/bin/python
# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: backup
short_description: Run the backup sets of an s3napback config now
version_added: 0.1.0
description:
  - Runs the backup sets of an s3napback configuration file on the managed host, as the C(s3napback backup)
    command that cron or a systemd timer runs there does.
  - For each set, decides from the date, the config and the catalog in the bucket whether a FULL or a DIFF
    backup is due, streams C(tar) through C(zstd) and C(gpg) to S3 in chunks, writes the manifest last (the
    commit), then retires the backups that the retention policy no longer keeps.
  - A set that already has a backup in the current period (every C(Frequency) days, as set in O(config)) is
    skipped unless O(force=true).
  - A failure leaves every earlier backup intact; what the failed run uploaded is removed, then or by the next
    run.
author:
  - s3napback contributors (@s3napback)
requirements:
  - python >= 3.9
  - boto3
  - python-gnupg
  - GNU tar
  - zstd
  - gpg
options:
  config:
    description:
      - Path of the configuration file on the managed host, in s3napback's format (C(DiffDir), C(Bucket),
        C(GpgRecipient), C(S3KeyFile), C(<Directory PATH>) blocks, ...).
      - The S3 credentials are read from the file named by its C(S3KeyFile) directive; they are never returned.
    type: path
    required: true
  sets:
    description:
      - Back up only these sets, by name.
      - A directory set is named by its path (V(/etc)), a dump by V(mysql/NAME), V(postgresql/NAME) or
        V(svn/PATH).
      - The default V([]) backs up every set of the config.
    type: list
    elements: str
    default: []
  force:
    description:
      - Back up even when the current period already has a backup.
      - The forced backup is a DIFF on top of the newest one when the cycle allows it, otherwise a FULL.
    type: bool
    default: false
  date:
    description:
      - Act as if today were this day (V(YYYY-MM-DD)), for tests and simulations of a schedule.
      - Defaults to the managed host's current date.
    type: str
extends_documentation_fragment:
  - s3napback.s3napback.attributes
  - s3napback.s3napback.attributes.action_group
attributes:
  check_mode:
    support: partial
    details:
      - Runs the real preflight (the config, the recipients' public keys, the bucket) and returns the plan of
        every set, with RV(sets[].test=true), saying what would be backed up, in which slot, and what would be
        retired.
      - Uploads nothing, deletes nothing and writes no snapshot file.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - A second run in the same period does nothing, unless O(force=true).
      - A run in a later period makes a new backup.
notes:
  - The managed host needs only the recipients' B(public) keys (C(GpgKeyring)); restoring needs the private key.
  - A set that fails does not stop the others; the task then fails and RV(msg) names every failed set.
  - Backups of the same config are serialised by a lock file in C(DiffDir); a run that cannot take it fails.
"""

EXAMPLES = r"""
- name: Back up every set of the host's config that is due today
  s3napback.s3napback.backup:
    config: /etc/s3napback/s3napback.conf

- name: Show what would be backed up, without uploading anything
  s3napback.s3napback.backup:
    config: /etc/s3napback/s3napback.conf
  check_mode: true
  register: __s3napback_plan

- name: Back up /etc now, even if today's backup was already made
  s3napback.s3napback.backup:
    config: /etc/s3napback/s3napback.conf
    sets:
      - /etc
    force: true

- name: Simulate the run of a given day
  s3napback.s3napback.backup:
    config: /etc/s3napback/s3napback.conf
    date: "2025-01-31"
  check_mode: true
"""

RETURN = r"""
sets:
  description:
    - One entry per set that was asked for, in config order.
  returned: when the sets could be run, also when some of them failed
  type: list
  elements: dict
  contains:
    set:
      description: The set's name (its path, or V(mysql/NAME), V(postgresql/NAME), V(svn/PATH)).
      returned: always
      type: str
      sample: /etc
    action:
      description:
        - What was done (in check mode, what would be done).
        - V(FULL) or V(DIFF) (a backup), V(SKIP) (nothing due), V(FAILED) (see RV(sets[].error)).
      returned: always
      type: str
      choices: [FULL, DIFF, SKIP, FAILED]
      sample: DIFF
    reason:
      description: Why this action was chosen.
      returned: always
      type: str
      sample: incremental on 20250131-020000-full
    backup_id:
      description: The id of the backup made, the name of its folder in the bucket; V(null) when none was made.
      returned: always
      type: str
      sample: 20250201-020000-diff
    slot:
      description: The retention slot of the period; V(null) when the set failed before the decision.
      returned: always
      type: int
      sample: 3
    parent:
      description: The backup a DIFF builds on; V(null) for a FULL or when nothing was made.
      returned: always
      type: str
      sample: 20250131-020000-full
    bytes_read:
      description: Bytes of the uncompressed archive stream.
      returned: always
      type: int
      sample: 10485760
    bytes_uploaded:
      description: Bytes stored in the bucket (compressed and encrypted chunks).
      returned: always
      type: int
      sample: 2097152
    chunks:
      description: Number of chunks uploaded.
      returned: always
      type: int
      sample: 2
    seconds:
      description: Time the set took, in seconds.
      returned: always
      type: float
      sample: 3.25
    retired:
      description:
        - The backups deleted because the retention policy no longer keeps them.
        - In check mode, the backups that would be retired.
      returned: always
      type: list
      elements: str
      sample: [20250117-020000-full]
    newest_finished:
      description: When the set's newest committed backup finished (UTC, ISO 8601), after the run; V(null) if none.
      returned: always
      type: str
      version_added: 0.2.0
      sample: "2025-01-14T02:00:07Z"
    locked:
      description:
        - Backups the retention policy retires but whose S3 Object Lock has not expired (C(ObjectLock) in the
          config); they are kept, and a later run retires them.
      returned: always
      type: list
      elements: str
      version_added: 0.2.0
      sample: []
    after:
      description:
        - What the set holds after the run, or in check mode would hold, by its retention policy
          (the planner's view of today, see C(s3napback plan)).
        - C(restorable) are the days of the moments that can be restored, oldest first; C(fulls) and C(diffs)
          count the backups kept; null when the set failed.
      returned: always
      type: dict
      version_added: 0.2.0
      sample: {restorable: ["2025-01-13", "2025-01-14"], fulls: 1, diffs: 1}
    leftovers_removed:
      description: Folders of earlier failed runs (without a manifest) that this run removed from the bucket.
      returned: always
      type: list
      elements: str
      sample: []
    warnings:
      description: Warnings of the run, for example files that changed while C(tar) read them.
      returned: always
      type: list
      elements: str
      sample: []
    error:
      description: Why the set failed, in one line; V(null) when it did not fail.
      returned: always
      type: str
      sample: "Directory /srv/data does not exist or is not a folder"
    test:
      description: V(true) in check mode, when nothing was uploaded and the entry is a plan.
      returned: always
      type: bool
      sample: false
  sample:
    - set: /etc
      action: FULL
      reason: no committed backup yet
      backup_id: 20250131-020000-full
      slot: 0
      parent: null
      bytes_read: 10485760
      bytes_uploaded: 2097152
      chunks: 2
      seconds: 3.25
      retired: []
      newest_finished: "2025-01-14T02:00:07Z"
      locked: []
      after: {restorable: ["2025-01-13", "2025-01-14"], fulls: 1, diffs: 1}
      leftovers_removed: []
      warnings: []
      error: null
      test: false
msg:
  description: On failure, the cause in one line; when sets failed, each failed set and its error, joined by V(; ).
  returned: failure
  type: str
  sample: "/srv/data: Directory /srv/data does not exist or is not a folder"
"""

import datetime
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.s3napback.s3napback.plugins.module_utils._ansible import run_engine
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.backup import BackupRun, SetResult
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.cli import setup_logging
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.config import load_config
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.schedule import DIFF, FULL, parse_day

FAILED = "FAILED"


def run_backups(
    config_path: str, names: t.Sequence[str], day: t.Optional[datetime.date], force: bool, test: bool
) -> t.List[SetResult]:
    """What ``s3napback backup`` does, minus the printing: the module reports the results instead."""
    config = load_config(config_path)
    setup_logging(False, config)  # LogFile, and keeps botocore's debug output (headers, bodies) out of every log
    selected = config.select(names) if names else list(config.sets)
    return BackupRun(config, day=day, force=force, test=test).run(selected)


def is_change(result: SetResult, check_mode: bool) -> bool:
    if check_mode:
        return result.action in (FULL, DIFF) or bool(result.leftovers_removed)
    # removing what a failed run left in the bucket is a change too, even when no set was due
    return result.uploaded or bool(result.leftovers_removed)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "config": {"type": "path", "required": True},
            "sets": {"type": "list", "elements": "str", "default": []},
            "force": {"type": "bool", "default": False},
            "date": {"type": "str"},
        },
        supports_check_mode=True,
    )
    day = None
    if module.params["date"] is not None:
        try:
            day = parse_day(module.params["date"])
        except ValueError as exc:
            module.fail_json(msg=f"date: {exc}")

    results = run_engine(
        module,
        run_backups,
        module.params["config"],
        module.params["sets"],
        day,
        module.params["force"],
        module.check_mode,
    )
    for result in results:
        for warning in result.warnings:
            module.warn(f"{result.set}: {warning}")
    outcome = {
        "changed": any(is_change(r, module.check_mode) for r in results),
        "sets": [r.as_dict() for r in results],
    }
    failed = [r for r in results if r.action == FAILED]
    if failed:
        module.fail_json(msg="; ".join(f"{r.set}: {r.error}" for r in failed), **outcome)
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
