# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Heartbeats for a dead man's switch (healthchecks.io's convention): ``URL/start`` when a run starts,
``URL`` when it succeeded, ``URL/fail`` when it failed, with the run's summary as the body. A monitor that
hears nothing raises the alarm, which is how a backup that never ran gets noticed.

A short timeout and a single attempt: an unreachable monitor must never hold up or fail a backup. The URL
usually holds a secret token, so only its host is ever logged.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from urllib.parse import urlparse

log = logging.getLogger(__name__)

TIMEOUT = 10
SUFFIXES = {"start": "/start", "success": "", "failure": "/fail"}


def ping(url: str, event: str, body: str = "", timeout: float = TIMEOUT) -> bool:
    """POST ``body`` to the URL for ``event`` (start, success, failure); False (logged) when it failed."""
    target = url + SUFFIXES[event]
    request = urllib.request.Request(  # noqa: S310 - the config checked it is http(s)
        target, data=body.encode()[:10000], method="POST", headers={"User-Agent": "s3napback"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            answer.read()
        return True
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        log.warning("heartbeat (%s) to %s failed: %s", event, urlparse(url).netloc, reason)
        return False
