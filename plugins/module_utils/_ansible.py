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
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.backup import open_store
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.config import Config
from ansible_collections.s3napback.s3napback.plugins.module_utils._s3napback.errors import ConfigError, S3napbackError

__all__ = ["open_store", "run_engine", "run_engine_reporting", "set_name"]

T = t.TypeVar("T")


def run_engine(module: t.Any, func: t.Callable[..., T], *args: t.Any, **kwargs: t.Any) -> T:
    """Return ``func(*args, **kwargs)``; on an error, end the module with ``fail_json`` and the right message.

    - a missing Python library: Ansible's standard "Failed to import the required Python library" message;
    - an engine error: its one-line message (names the cause and the fix), never a traceback;
    - anything else is a bug: a one-line message, with the traceback in ``exception`` (shown with -vvv).
    """
    return run_engine_reporting(module, {}, func, *args, **kwargs)


def run_engine_reporting(
    module: t.Any, report: t.Mapping[str, t.Any], func: t.Callable[..., T], *args: t.Any, **kwargs: t.Any
) -> T:
    """As :func:`run_engine`; on an error, ``fail_json`` also returns what ``report`` holds by then.

    ``func`` may fill ``report`` as it goes (e.g. the path of a temporary folder it made and removed), so that a
    failed task still says what was done.
    """
    try:
        return func(*args, **kwargs)
    except MissingDependency as exc:  # before S3napbackError: it is one
        module.fail_json(msg=missing_required_lib(exc.library), **report)
    except S3napbackError as exc:
        module.fail_json(msg=str(exc), **report)
    except Exception as exc:
        module.fail_json(
            msg=f"internal error in s3napback: {type(exc).__name__}: {exc}",
            exception=traceback.format_exc(),
            **report,
        )
    raise AssertionError("unreachable: fail_json exits")  # pragma: no cover


def set_name(config: Config, raw: str) -> str:
    """A set of the config by its normalised name (``/etc/`` is ``/etc``); any other (another host's) as given,
    without a trailing slash."""
    try:
        return config.select([raw])[0].name
    except ConfigError:
        return raw.rstrip("/") or raw
