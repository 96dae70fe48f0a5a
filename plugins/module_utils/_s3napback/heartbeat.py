# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Heartbeats for a dead man's switch (healthchecks.io's convention): ``URL/start`` when a run starts,
``URL`` when it succeeded, ``URL/fail`` when it failed, with the run's summary as the body. A monitor that
hears nothing raises the alarm, which is how a backup that never ran gets noticed.

A short timeout and a single attempt: an unreachable monitor must never hold up or fail a backup. The URL
usually holds a secret token (in its path, or as user:password@), so only its host is ever logged.
"""

from __future__ import annotations

import base64
import http.client
import logging
import ssl
from urllib.parse import unquote, urlparse

log = logging.getLogger(__name__)

TIMEOUT = 10
SUFFIXES = {"start": "/start", "success": "", "failure": "/fail"}


def ping(url: str, event: str, body: str = "", timeout: float = TIMEOUT) -> bool:
    """POST ``body`` to the URL for ``event`` (start, success, failure); False (logged) when it failed."""
    target = urlparse(url)
    host = target.hostname or "?"  # never the user:password@ part: it is a secret too
    # the suffix goes on the path: healthchecks' own URLs may carry a query (?create=1, ?rid=...)
    path = ((target.path.rstrip("/") + SUFFIXES[event]) or "/") + (f"?{target.query}" if target.query else "")
    headers = {"User-Agent": "s3napback"}
    if target.username is not None:
        credentials = f"{unquote(target.username)}:{unquote(target.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode()
    try:
        port = target.port
        if target.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        host += f":{port}" if port else ""
    except ValueError as exc:  # a port that is not a number: the config check refuses it, but never fail a run
        log.warning("heartbeat (%s) to %s failed: %s", event, host, exc)
        return False
    try:
        connection.request("POST", path, body=body.encode()[:10000], headers=headers)
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException, UnicodeError) as exc:
        log.warning("heartbeat (%s) to %s failed: %s", event, host, exc)
        return False
    finally:
        connection.close()
    if status >= 400:
        log.warning("heartbeat (%s) to %s failed: HTTP status %d", event, host, status)
        return False
    return True
