# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``python3 -m _s3napback``: the command without the wrapper script."""

from .cli import run_and_exit

if __name__ == "__main__":
    run_and_exit()
