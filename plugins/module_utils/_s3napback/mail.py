# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The run's report mail (``NotifyEmail``), through an SMTP server or the local sendmail.

Sending may fail (no relay, a wrong password): the caller logs that and the backup's result stands. The SMTP
password comes from ``SmtpCredentialsFile`` and is never logged: smtplib's debug output stays off.
"""

from __future__ import annotations

import base64
import email.message
import email.policy
import email.utils
import shutil
import smtplib
import ssl
import subprocess
import typing as t

from .credentials import read_credentials
from .errors import S3napbackError

if t.TYPE_CHECKING:  # pragma: no cover
    from .config import Config

SMTP_TIMEOUT = 30
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


def compose(config: Config, subject: str, body: str) -> email.message.EmailMessage:
    # no folding below the RFC's hard limit: Python folds a long subject into a leading-space continuation
    message = email.message.EmailMessage(policy=email.policy.default.clone(max_line_length=998))
    message["From"] = config.notify_from or f"s3napback@{config.host_name}"
    message["To"] = ", ".join(config.notify_email)
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=True)
    message["Message-ID"] = email.utils.make_msgid(domain=config.host_name)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    message.set_content(body)
    return message


def send(config: Config, message: email.message.EmailMessage) -> None:
    """Deliver ``message``; S3napbackError in one line when it cannot be."""
    if config.smtp_server:
        _send_smtp(config, message)
    else:
        _send_sendmail(message)


def _send_smtp(config: Config, message: email.message.EmailMessage) -> None:
    host = t.cast(str, config.smtp_server)
    port = config.smtp_port or DEFAULT_PORTS[config.smtp_security]
    where = f"SMTP server {host}:{port}"
    try:
        if config.smtp_security == "tls":
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=SMTP_TIMEOUT, context=ssl.create_default_context()
            )
        else:
            server = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
        with server:
            if config.smtp_security == "starttls":
                server.starttls(context=ssl.create_default_context())
            if config.smtp_credentials_file:
                login = read_credentials(config.smtp_credentials_file, ("user", "password"), "SmtpCredentialsFile")
                _login(server, login["user"], login["password"])
            server.send_message(message)
    except smtplib.SMTPAuthenticationError:
        raise S3napbackError(f"{where} refused the user and password of SmtpCredentialsFile") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise S3napbackError(f"{where}: {exc}; set SmtpSecurity to match the server") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise S3napbackError(f"{where}: {type(exc).__name__}: {exc}") from None


def _login(server: smtplib.SMTP, user: str, password: str) -> None:
    """smtplib's login sends ASCII alone (a UnicodeEncodeError that quotes the password otherwise); AUTH PLAIN
    carries UTF-8 (RFC 4616), so a user or password beyond ASCII goes that way."""
    if user.isascii() and password.isascii():
        server.login(user, password)
        return
    server.ehlo_or_helo_if_needed()
    if "PLAIN" not in server.esmtp_features.get("auth", "").upper().split():
        raise S3napbackError("the SMTP server does not offer AUTH PLAIN, which a user or password beyond ASCII needs")
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode("ascii")
    code, answer = server.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, answer)


def _send_sendmail(message: email.message.EmailMessage) -> None:
    # cron's PATH lacks /usr/sbin, where every MTA puts its sendmail
    sendmail = shutil.which("sendmail") or "/usr/sbin/sendmail"
    try:
        done = subprocess.run(  # noqa: S603
            [sendmail, "-t", "-oi"], input=message.as_bytes(), capture_output=True, check=False, timeout=SMTP_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise S3napbackError(f"{sendmail} did not end within {SMTP_TIMEOUT} s; check the mail transfer agent") from None
    except OSError as exc:
        raise S3napbackError(
            f"cannot run {sendmail} ({exc.strerror}); install a mail transfer agent or set SmtpServer"
        ) from None
    if done.returncode != 0:
        detail = " ".join(done.stderr.decode(errors="replace").split())[-200:]
        raise S3napbackError(f"sendmail exited with status {done.returncode}: {detail}")
