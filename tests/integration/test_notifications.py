# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a run tells: the report mail through a real SMTP server on loopback (aiosmtpd, with AUTH), the
heartbeats a local HTTP server receives, the metrics file read with prometheus_client's own parser, and the
log file; a failing set or run gives a failure mail, a failure ping and metrics showing it; an unreachable
mail server or monitor never fails the backup; no secret reaches the log."""

from __future__ import annotations

import base64
import json
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from prometheus_client.parser import text_string_to_metric_families

from support.cli import fake_tool, start_cli, wait_while_running
from support.trees import make_tree

SMTP_PASSWORD = "smtp-pw-7f3a9c"
HEARTBEAT_TOKEN = "5b2c9e1d-secret-token"


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []
        self.logins: list = []
        self.password = SMTP_PASSWORD.encode()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"backup", self.password))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), authenticator=inbox.authenticate, auth_require_tls=False
    )
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture
def monitor():
    class Pings(list):
        authorizations: list = []  # the Authorization header of each ping

    pings = Pings()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            pings.append((self.path, body.decode()))
            pings.authorizations.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield pings, f"http://127.0.0.1:{server.server_address[1]}/ping/{HEARTBEAT_TOKEN}"
    server.shutdown()


def notify_conf(
    make_config, tmp_path, directories, smtp_port: int, heartbeat: str, extra: str = "", level: str = "info"
) -> str:
    credentials = tmp_path / "smtp-credentials"
    credentials.write_text(f"user=backup\npassword={SMTP_PASSWORD}\n")
    credentials.chmod(0o600)
    lines = [
        "NotifyEmail ops@example.com admin@example.com",
        f"SmtpServer 127.0.0.1:{smtp_port}",
        "SmtpSecurity none",
        f"SmtpCredentialsFile {credentials}",
        f"HeartbeatUrl {heartbeat}",
        f"MetricsFile {tmp_path / 'metrics.prom'}",
        f"LogFile {tmp_path / 's3napback.log'}",
        f"LogLevel {level}",
        extra,
    ]
    return make_config(directories, extra="\n".join(lines))


def metric_samples(path) -> dict:
    """{(name, set or None): value} of every sample, parsed by prometheus_client."""
    found = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            found[(sample.name, sample.labels.get("set"))] = sample.value
            assert sample.labels["host"] == "test-host"
    return found


def test_a_good_run_mails_pings_and_writes_metrics(cli, make_config, tmp_path, smtp, monitor, s3_server):
    inbox, smtp_port = smtp
    pings, url = monitor
    source = tmp_path / "data"
    make_tree(source, files=4, total_bytes=40_000)
    conf = notify_conf(make_config, tmp_path, [source], smtp_port, url)
    before = time.time()
    done = cli("backup", "-c", conf, check=True)
    assert "FULL" in done.stdout

    [(recipients, mail)] = inbox.messages
    assert recipients == ["ops@example.com", "admin@example.com"]
    assert inbox.logins == [(b"backup", SMTP_PASSWORD.encode())]
    assert mail["Subject"] == "s3napback on test-host: OK: 1 made, 0 skipped, 0 failed"
    assert mail["From"] == "s3napback@test-host" and mail["Auto-Submitted"] == "auto-generated"
    body = mail.get_content()
    assert f"{source}: FULL " in body and "Restorable moments after the run:" in body and "Errors:" not in body

    assert [path for path, _body in pings] == [f"/ping/{HEARTBEAT_TOKEN}/start", f"/ping/{HEARTBEAT_TOKEN}"]
    assert "OK: 1 made" in pings[1][1]

    samples = metric_samples(tmp_path / "metrics.prom")
    name = str(source)
    assert samples[("s3napback_run_success", None)] == 1.0
    assert samples[("s3napback_set_last_run_success", name)] == 1.0
    assert before - 1 <= samples[("s3napback_set_last_backup_timestamp_seconds", name)] <= time.time()
    assert samples[("s3napback_set_restorable_backups", name)] == 1.0
    assert samples[("s3napback_set_last_run_bytes_read", name)] >= 40_000
    assert samples[("s3napback_set_last_run_chunks", name)] >= 1

    log = (tmp_path / "s3napback.log").read_text()
    assert f"{source}: FULL in slot" in log and f"{source}: FULL 20" in log  # the decision, then the result
    assert "run succeeded" in log
    for secret in (SMTP_PASSWORD, HEARTBEAT_TOKEN, s3_server.secret_key):
        assert secret not in log and secret not in done.stdout + done.stderr


def test_a_failing_set_and_a_failing_run_mail_ping_and_show_in_metrics(cli, make_config, tmp_path, smtp, monitor):
    inbox, smtp_port = smtp
    pings, url = monitor
    good = tmp_path / "data"
    make_tree(good, files=2, total_bytes=5_000)
    missing = tmp_path / "not-there"
    conf = notify_conf(make_config, tmp_path, [good], smtp_port, url, extra="NotifyOn failure")
    cli("backup", "-c", conf, "--date", "2026-03-02", check=True)
    assert inbox.messages == []  # NotifyOn failure: a good run sends no mail
    first_backup = metric_samples(tmp_path / "metrics.prom")[("s3napback_set_last_backup_timestamp_seconds", str(good))]

    with open(conf, "a") as handle:
        handle.write(f"<Directory {missing}>\n  Frequency 1\n  Diffs 1\n  Fulls 1\n</Directory>\n")
    failed = cli("backup", "-c", conf, "--date", "2026-03-02")
    assert failed.returncode == 1
    [(_recipients, mail)] = inbox.messages
    assert mail["Subject"] == "s3napback on test-host: FAILED (1 of 2 sets): 0 made, 1 skipped, 1 failed"
    text = mail.get_content().replace("\r\n", "\n")  # as received over SMTP
    assert f"Errors:\n- {missing}: " in text and "does not exist" in text
    assert pings[-1][0] == f"/ping/{HEARTBEAT_TOKEN}/fail" and "FAILED" in pings[-1][1]
    samples = metric_samples(tmp_path / "metrics.prom")
    assert samples[("s3napback_run_success", None)] == 0.0
    assert samples[("s3napback_set_last_run_success", str(missing))] == 0.0
    assert ("s3napback_set_last_backup_timestamp_seconds", str(missing)) not in samples  # never backed up
    assert samples[("s3napback_set_last_run_success", str(good))] == 1.0  # skipped: done for today
    assert samples[("s3napback_set_last_backup_timestamp_seconds", str(good))] == first_backup

    # a run that fails before any set (the bucket is gone): still a mail, a ping and the metrics
    broken = conf.replace(".conf", "-broken.conf")
    with open(conf) as src, open(broken, "w") as dst:
        dst.write(src.read().replace("Bucket ", "Bucket missing-", 1))
    gone = cli("backup", "-c", broken, "--date", "2026-03-03")
    assert gone.returncode != 0 and "Traceback" not in gone.stderr
    assert len(inbox.messages) == 2 and inbox.messages[1][1]["Subject"].startswith("s3napback on test-host: FAILED: ")
    assert "missing-" in inbox.messages[1][1]["Subject"]
    assert pings[-1][0] == f"/ping/{HEARTBEAT_TOKEN}/fail"
    samples = metric_samples(tmp_path / "metrics.prom")
    assert samples[("s3napback_run_success", None)] == 0.0
    assert samples[("s3napback_set_last_backup_timestamp_seconds", str(good))] == first_backup  # carried over


@pytest.mark.parametrize(
    ("sig", "code", "said"),
    [(signal.SIGTERM, 143, "terminated (SIGTERM)"), (signal.SIGINT, 130, "interrupted")],
)
def test_a_stopped_run_mails_pings_and_shows_in_metrics(
    make_config, tmp_path, smtp, monitor, s3_server, bucket, sig, code, said
):
    """systemd stopping the service (or a shutdown, or Ctrl-C) mid-upload: once the upload is cleaned up, the
    run reports its failure at once instead of leaving it to the heartbeat's grace time or the next run."""
    inbox, smtp_port = smtp
    pings, url = monitor
    source = tmp_path / "data"
    make_tree(source, files=40, total_bytes=12 * 1024 * 1024)
    conf = notify_conf(make_config, tmp_path, [source], smtp_port, url)
    slow_gpg = fake_tool(tmp_path, "gpg", 'case "$*" in *--encrypt*) sleep 0.3;; esac\nexec REAL "$@"\n')
    process = start_cli("backup", "-c", conf, env=slow_gpg)
    client = s3_server.client()

    def uploading() -> bool:
        return bool(client.list_objects_v2(Bucket=bucket).get("Contents"))

    wait_while_running(process, uploading, "a chunk uploaded")
    process.send_signal(sig)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert "Traceback" not in err
    assert client.list_objects_v2(Bucket=bucket).get("Contents") is None  # the upload was removed first

    [(_recipients, mail)] = inbox.messages
    assert mail["Subject"] == f"s3napback on test-host: FAILED: {said} while backing up {source}"
    text = mail.get_content().replace("\r\n", "\n")
    assert f"The run did not finish: {said} while backing up {source}" in text
    assert f"{source}: FAILED: stopped before the set was done; the next run takes it up" in text
    assert [path for path, _body in pings] == [f"/ping/{HEARTBEAT_TOKEN}/start", f"/ping/{HEARTBEAT_TOKEN}/fail"]
    samples = metric_samples(tmp_path / "metrics.prom")
    assert samples[("s3napback_run_success", None)] == 0.0
    assert samples[("s3napback_set_last_run_success", str(source))] == 0.0
    log = (tmp_path / "s3napback.log").read_text()
    assert f"{source}: stopped before the set was done" in log and "run FAILED" in log
    for secret in (SMTP_PASSWORD, HEARTBEAT_TOKEN, s3_server.secret_key):
        assert secret not in err and secret not in log


def test_unreachable_mail_server_and_monitor_never_fail_the_backup(cli, make_config, tmp_path):
    source = tmp_path / "data"
    make_tree(source, files=2, total_bytes=5_000)
    closed = free_port()  # nothing listens there
    conf = notify_conf(
        make_config, tmp_path, [source], closed, f"http://127.0.0.1:{closed}/ping/{HEARTBEAT_TOKEN}", level="debug"
    )
    started = time.monotonic()
    done = cli("backup", "-c", conf, "--json", check=True)
    assert time.monotonic() - started < 60
    [result] = json.loads(done.stdout)
    assert result["action"] == "FULL" and result["error"] is None
    log = (tmp_path / "s3napback.log").read_text()
    assert f"heartbeat (start) to 127.0.0.1:{closed} failed" in log
    assert (
        f"could not send the report mail to ops@example.com, admin@example.com: SMTP server 127.0.0.1:{closed}" in log
    )
    for secret in (SMTP_PASSWORD, HEARTBEAT_TOKEN):
        assert secret not in log + done.stderr


def test_starttls_with_a_verified_certificate_before_the_password(cli, make_config, tmp_path, monitor):
    """The default SmtpSecurity: STARTTLS, the server's certificate checked against the CAs (here the
    test's own, through SSL_CERT_FILE, which OpenSSL's default paths honour), and AUTH only over TLS."""
    cert, key = tmp_path / "smtp.pem", tmp_path / "smtp.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
        capture_output=True, check=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), authenticator=inbox.authenticate,
        tls_context=context, require_starttls=True,
    )  # fmt: skip
    controller.start()
    try:
        source = tmp_path / "data"
        make_tree(source, files=1, total_bytes=1_000)
        _pings, url = monitor
        conf = notify_conf(make_config, tmp_path, [source], controller.port, url)
        with open(conf) as handle:
            text = handle.read().replace("SmtpSecurity none\n", "")  # the default, starttls
        with open(conf, "w") as handle:
            handle.write(text)
        cli("backup", "-c", conf, env={"SSL_CERT_FILE": str(cert)}, check=True)
        assert inbox.logins == [(b"backup", SMTP_PASSWORD.encode())] and len(inbox.messages) == 1

        untrusted = cli("backup", "-c", conf, "-f")  # without the CA: the certificate is refused, not ignored
        assert untrusted.returncode == 0 and len(inbox.messages) == 1
        assert "could not send the report mail" in (tmp_path / "s3napback.log").read_text()
        assert "CERTIFICATE_VERIFY_FAILED" in (tmp_path / "s3napback.log").read_text()
    finally:
        controller.stop()


def test_without_smtp_server_the_mail_goes_to_sendmail(cli, make_config, tmp_path):
    """The local MTA's interface: ``sendmail -t -oi`` reads the whole message, recipients from its headers.
    (A recording stand-in here: an MTA would need a mail system on the test machine.)"""
    source = tmp_path / "data"
    make_tree(source, files=1, total_bytes=1_000)
    bin_dir, received = tmp_path / "bin", tmp_path / "received.eml"
    bin_dir.mkdir()
    (bin_dir / "sendmail").write_text(f'#!/bin/sh\necho "$*" > {received}.args\ncat > {received}\n')
    (bin_dir / "sendmail").chmod(0o755)
    conf = make_config([source], extra="NotifyEmail ops@example.com\nNotifyFrom backup@example.com")
    cli("backup", "-c", conf, env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, check=True)
    assert (tmp_path / "received.eml.args").read_text().strip() == "-t -oi"
    mail = message_from_bytes(received.read_bytes(), policy=policy.default)
    assert (mail["To"], mail["From"]) == ("ops@example.com", "backup@example.com")
    assert mail["Subject"] == "s3napback on test-host: OK: 1 made, 0 skipped, 0 failed"
    assert f"{source}: FULL " in mail.get_content()


def test_a_heartbeat_url_with_user_and_password_sends_them_and_never_shows_them(cli, make_config, tmp_path, monitor):
    """``https://USER:TOKEN@host/...``: the credentials go as HTTP basic authentication, never into logs. They used
    to be taken for part of the host: "nonnumeric port: 'TOKEN@host'" in an internal error, or in the log."""
    pings, url = monitor
    source = tmp_path / "data"
    make_tree(source, files=2, total_bytes=5_000)
    with_user = url.replace("http://", f"http://watch:{HEARTBEAT_TOKEN}@")
    conf = notify_conf(make_config, tmp_path, [source], free_port(), with_user, level="debug")
    done = cli("backup", "-c", conf, "--json", check=True)
    expected = "Basic " + base64.b64encode(f"watch:{HEARTBEAT_TOKEN}".encode()).decode()
    assert [path.rsplit("/", 1)[-1] for path, _body in pings] == ["start", HEARTBEAT_TOKEN]
    assert pings.authorizations == [expected, expected]

    closed = free_port()  # and where nothing listens, the warning names the host alone
    conf = notify_conf(make_config, tmp_path, [source], closed, f"http://watch:{HEARTBEAT_TOKEN}@127.0.0.1:{closed}/p")
    failed = cli("backup", "-c", conf, "--json", "-f", check=True)
    log = (tmp_path / "s3napback.log").read_text()
    assert f"heartbeat (start) to 127.0.0.1:{closed} failed" in log
    assert HEARTBEAT_TOKEN not in log + done.stderr + failed.stderr + done.stdout + failed.stdout


def test_odd_values_in_the_report_settings_never_cost_the_backup_or_its_report(
    cli, make_config, tmp_path, smtp, monitor, s3_server, bucket
):
    """Found by an audit: a HeartbeatUrl with a query (healthchecks' ?create=1) sent the failure ping to the
    success URL; a non-ASCII SMTP password ended the run in an internal error (quoting a character of it); a
    metrics file with a damaged byte stopped every later run; a set whose listing failed lost its backup-age
    series (so an alert on it could never fire); a LogFile in a missing folder refused the run."""
    inbox, smtp_port = smtp
    pings, url = monitor
    source = tmp_path / "data"
    make_tree(source, files=2, total_bytes=5_000)
    conf = notify_conf(make_config, tmp_path, [source], smtp_port, url + "?create=1")
    password = "P\u00e4sswort-\u00df-7f3a"
    (tmp_path / "smtp-credentials").write_text(f"user=backup\npassword={password}\n")
    inbox.password = password.encode()
    (tmp_path / "metrics.prom").write_bytes(b"# damaged \xff\xfe\n")
    cli("backup", "-c", conf, "--date", "2026-03-02", check=True)
    assert [path for path, _body in pings] == [
        f"/ping/{HEARTBEAT_TOKEN}/start?create=1",
        f"/ping/{HEARTBEAT_TOKEN}?create=1",
    ]
    [(_to, mail)] = inbox.messages
    assert mail["Subject"].startswith("s3napback on test-host: OK")
    age = ("s3napback_set_last_backup_timestamp_seconds", str(source))
    backed_up = metric_samples(tmp_path / "metrics.prom")[age]

    # a damaged manifest fails the set at its listing: the failure goes to /fail, the age series stays
    client = s3_server.client()
    [manifest] = [
        o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"] if o["Key"].endswith("manifest.json")
    ]
    client.put_object(Bucket=bucket, Key=manifest, Body=b"{not json")
    failed = cli("backup", "-c", conf, "--date", "2026-03-03")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert pings[-1][0] == f"/ping/{HEARTBEAT_TOKEN}/fail?create=1"
    assert inbox.messages[-1][1]["Subject"].startswith("s3napback on test-host: FAILED (1 of 1 sets)")
    samples = metric_samples(tmp_path / "metrics.prom")
    assert samples[("s3napback_set_last_run_success", str(source))] == 0.0 and samples[age] == backed_up
    assert "ERROR run FAILED: s3napback on test-host: FAILED" in (tmp_path / "s3napback.log").read_text()
    assert password not in failed.stderr + failed.stdout + (tmp_path / "s3napback.log").read_text()

    # a LogFile that cannot be opened: one warning, the run goes on; check names it
    with open(conf) as handle:
        text = handle.read().replace(f"LogFile {tmp_path / 's3napback.log'}", f"LogFile {tmp_path / 'gone' / 'x.log'}")
    with open(conf, "w") as handle:
        handle.write(text)
    client.delete_object(Bucket=bucket, Key=manifest)
    made = cli("backup", "-c", conf, "--date", "2026-03-04", check=True)
    assert f"LogFile {tmp_path / 'gone' / 'x.log'}: cannot open it (No such file or directory)" in made.stderr
    with open(conf, "w") as handle:
        handle.write(
            text.replace(f"MetricsFile {tmp_path / 'metrics.prom'}", f"MetricsFile {tmp_path / 'gone' / 'm.prom'}")
            .replace(f"SmtpCredentialsFile {tmp_path / 'smtp-credentials'}", f"SmtpCredentialsFile {tmp_path / 'x'}")
        )  # fmt: skip
    check = cli("check", "-c", conf, "--json")
    checks = {c["name"]: c for c in json.loads(check.stdout)}
    assert check.returncode == 1 and checks["bucket"]["ok"]
    for name, detail in [("LogFile", "its folder does not exist"), ("MetricsFile", "its folder does not exist"),
                         ("SmtpCredentialsFile", "cannot read SmtpCredentialsFile")]:  # fmt: skip
        assert not checks[name]["ok"] and detail in checks[name]["detail"], checks[name]
    with open(conf, "w") as handle:
        handle.write(text)

    # a GpgKeyring that is not there fails the run, and the run's report says so
    with open(conf, "w") as handle:
        handle.write(re.sub(r"(?m)^GpgKeyring .*$", f"GpgKeyring {tmp_path / 'no-keyring'}", text))
    missing_keyring = cli("backup", "-c", conf, "--date", "2026-03-05")
    assert missing_keyring.returncode == 7, missing_keyring.stderr
    assert pings[-1][0] == f"/ping/{HEARTBEAT_TOKEN}/fail?create=1"
    assert str(tmp_path / "no-keyring") in inbox.messages[-1][1]["Subject"]
