# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The thin adapter between the engine (``_s3napback``, no Ansible imports) and the modules.

This module util is PRIVATE to the s3napback.s3napback collection; its API may change at any time.
"""

from __future__ import annotations

import traceback
import typing as t

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback._deps import MissingDependency
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.errors import S3napbackError

__all__ = ["run_engine"]

T = t.TypeVar("T")


def run_engine(module: t.Any, func: t.Callable[..., T], *args: t.Any, **kwargs: t.Any) -> T:
    """Return ``func(*args, **kwargs)``; on an error, end the module with ``fail_json`` and the right message.

    - a missing Python library: Ansible's standard "Failed to import the required Python library" message;
    - an engine error: its one-line message (names the cause and the fix), never a traceback;
    - anything else is a bug: a one-line message, with the traceback in ``exception`` (shown with -vvv).
    """
    try:
        return func(*args, **kwargs)
    except MissingDependency as exc:  # before S3napbackError: it is one
        module.fail_json(msg=missing_required_lib(exc.library))
    except S3napbackError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:
        module.fail_json(
            msg=f"internal error in s3napback: {type(exc).__name__}: {exc}",
            exception=traceback.format_exc(),
        )
    raise AssertionError("unreachable: fail_json exits")  # pragma: no cover
