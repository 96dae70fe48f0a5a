# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The descriptions of the attributes every module of the collection documents; each module states its own
support and details (Ansible merges the module's entries over these)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and return a changed status prediction without modifying the target.
  diff_mode:
    description: Will return details on what has changed when in diff mode.
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

    # The modules that talk to the bucket: defaults for all of them with module_defaults.
    ACTION_GROUP = r"""
attributes:
  action_group:
    description: Use C(group/s3napback.s3napback.s3) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - s3napback.s3napback.s3
"""
