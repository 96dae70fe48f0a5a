# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The s3napback engine: plain Python, no Ansible imports.

This module util is PRIVATE to the s3napback.s3napback collection; its API may change at any time.
The same package runs inside Ansible modules and as the ``s3napback`` command on each host.
"""

__version__ = "0.2.0"
