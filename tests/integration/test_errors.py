# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input gets one clear line naming the cause and the fix, a non-zero exit, and nothing is written."""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading

import pytest

from support.cli import one_line_error
from support.configs import config_for
from support.trees import assert_same_tree


@pytest.fixture
def data(tmp_path):
    source = tmp_path / "data"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "file.txt").write_text("payload\n")
    return str(source)


def test_missing_bucket(cli, tmp_path, s3_server, s3_key_file, gpg_keys, data):
    conf = config_for(tmp_path, s3_server, "s3nb-no-such-bucket", s3_key_file, gpg_keys, data)
    result = cli("backup", "-c", conf)
    line = one_line_error(result)
    assert result.returncode == 3
    assert "s3nb-no-such-bucket" in line and ("does not exist" in line or "access denied" in line)


def test_unreachable_endpoint(cli, tmp_path, s3_key_file, gpg_keys, data, s3_server):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = config_for(
        tmp_path, s3_server, "any-bucket", s3_key_file, gpg_keys, data, endpoint=f"http://127.0.0.1:{port}"
    )
    result = cli("backup", "-c", conf)
    line = one_line_error(result)
    assert f"127.0.0.1:{port}" in line and "cannot reach" in line and "S3Endpoint" in line


def test_unreadable_key_file(cli, tmp_path, s3_server, bucket, gpg_keys, data):
    conf = config_for(tmp_path, s3_server, bucket, tmp_path / "missing-key.txt", gpg_keys, data)
    line = one_line_error(cli("backup", "-c", conf))
    assert "S3KeyFile" in line and "missing-key.txt" in line


def test_key_file_lines_are_never_echoed(cli, tmp_path, s3_server, bucket, gpg_keys, data):
    key_file = tmp_path / "bad-key.txt"
    key_file.write_text("key=AKIAEXAMPLE\nTOPSECRETVALUEWITHOUTEQUALS\n")
    conf = config_for(tmp_path, s3_server, bucket, key_file, gpg_keys, data)
    result = cli("backup", "-c", conf, "-d")
    line = one_line_error(result)
    assert "bad-key.txt:2" in line
    assert "TOPSECRETVALUEWITHOUTEQUALS" not in result.stderr + result.stdout


def test_secret_never_in_debug_output(cli, tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data):
    conf = config_for(tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data)
    result = cli("backup", "-c", conf, "-d", check=True)
    assert s3_server.secret_key not in result.stdout + result.stderr
    assert "FULL" in result.stdout


def test_no_key_for_recipient(cli, tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data, s3_server_client=None):
    conf = config_for(tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data)
    with open(conf) as handle:
        text = handle.read().replace(gpg_keys.email, "nobody@s3napback.invalid")
    with open(conf, "w") as handle:
        handle.write(text)
    result = cli("backup", "-c", conf)
    line = one_line_error(result)
    assert result.returncode == 7 and result.stderr.strip() == line  # no "gpg returned a non-zero ..." before it
    assert "nobody@s3napback.invalid" in line and "no public key" in line
    assert s3_server.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_refuses_to_run_without_recipient_unless_encryption_off(cli, tmp_path, s3_server, bucket, s3_key_file, data):
    conf = config_for(tmp_path, s3_server, bucket, s3_key_file, None, data)
    line = one_line_error(cli("backup", "-c", conf))
    assert "GpgRecipient" in line and "Encryption none" in line

    conf = config_for(tmp_path, s3_server, bucket, s3_key_file, None, data, extra="Encryption none")
    out = cli("backup", "-c", conf, "--json", check=True)
    [result] = json.loads(out.stdout)
    assert result["action"] == "FULL"
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.endswith(".tar.zst") for k in keys) and not any(k.endswith(".gpg") for k in keys)
    cli("restore", "-c", conf, "--set", data, "--to", tmp_path / "r", check=True)
    assert_same_tree(data, str(tmp_path / "r") + data)


def test_wrong_private_key_refused_with_clear_error(cli, tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data,
                                                    gpg_keypair_factory):  # fmt: skip
    conf = config_for(tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data)
    cli("backup", "-c", conf, check=True)
    other = gpg_keypair_factory("other@s3napback.invalid")
    result = cli("restore", "-c", conf, "--set", data, "--to", tmp_path / "r", "--gnupghome", other.private_home)
    line = one_line_error(result)
    assert "private key" in line and "--gnupghome" in line


def test_corrupted_chunk_is_named(cli, tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data):
    conf = config_for(tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data)
    cli("backup", "-c", conf, check=True)
    client = s3_server.client()
    [chunk_key] = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"] if "chunk-" in o["Key"]]
    body = bytearray(client.get_object(Bucket=bucket, Key=chunk_key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    client.put_object(Bucket=bucket, Key=chunk_key, Body=bytes(body))
    result = cli("restore", "-c", conf, "--set", data, "--to", tmp_path / "r", "--gnupghome", gpg_keys.private_home)
    line = one_line_error(result)
    assert os.path.basename(chunk_key) in line and "SHA-256" in line
    assert not os.path.exists(tmp_path / "r" / data.lstrip("/") / "sub" / "file.txt")


def test_non_empty_destination_refused(cli, tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data):
    conf = config_for(tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data)
    cli("backup", "-c", conf, check=True)
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "precious").write_text("keep me")
    line = one_line_error(
        cli("restore", "-c", conf, "--set", data, "--to", target, "--gnupghome", gpg_keys.private_home)
    )
    assert "not empty" in line
    assert sorted(os.listdir(target)) == ["precious"]


def test_bad_config_names_file_and_line(cli, tmp_path):
    conf = tmp_path / "broken.conf"
    conf.write_text("Bucket b\n<Subversion /srv/svn/x>\n  Frequency 1\n  Fulls 3\n</SubversionDir>\n")
    result = cli("backup", "-c", conf)
    line = one_line_error(result)
    assert result.returncode == 2
    assert f"{conf}:5" in line and "</Subversion>" in line


def test_missing_source_directory_fails_that_set_only(cli, tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data):
    conf = config_for(tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data, directories=[data, "/nonexistent/dir"])
    result = cli("backup", "-c", conf)
    assert result.returncode == 1
    assert f"{data}: FULL" in result.stdout
    assert "/nonexistent/dir: FAILED" in result.stdout and "does not exist" in result.stdout


def test_a_directory_that_is_a_symbolic_link_is_refused_by_backup_and_check(
    cli, tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data
):
    """tar stores a symbolic link named on its command line as the link alone: such a set used to "succeed"
    every night with nothing of the folder in it."""
    link = tmp_path / "www"
    link.symlink_to(data)
    conf = config_for(tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data, directories=[data, str(link)])
    expected = f"Directory {link} is a symbolic link, which tar stores alone; name the folder: Directory {data}"
    result = cli("backup", "-c", conf)
    assert result.returncode == 1 and f"{data}: FULL" in result.stdout
    assert f"{link}: FAILED" in result.stdout and expected in result.stdout
    assert len(s3_server.manifest_keys(bucket)) == 1  # the folder's backup alone
    check = cli("check", "-c", conf)
    assert check.returncode == 1 and expected in check.stdout


def test_wrong_secret_key(cli, tmp_path, s3_server, bucket, gpg_keys, data):
    key_file = tmp_path / "wrong-secret.txt"
    key_file.write_text(f"key={s3_server.access_key}\nsecret=not-the-secret\n")
    conf = config_for(tmp_path, s3_server, bucket, key_file, gpg_keys, data)
    result = cli("backup", "-c", conf)
    line = one_line_error(result)
    assert result.returncode == 3
    assert "secret key is wrong" in line and "S3KeyFile" in line
    assert "not-the-secret" not in result.stderr + result.stdout


def test_unknown_access_key(cli, tmp_path, s3_server, bucket, gpg_keys, data):
    key_file = tmp_path / "unknown-key.txt"
    key_file.write_text("key=NOSUCHKEY\nsecret=whatever\n")
    conf = config_for(tmp_path, s3_server, bucket, key_file, gpg_keys, data)
    line = one_line_error(cli("backup", "-c", conf))
    assert "access key is not known" in line and "S3KeyFile" in line


def test_forbidden_bucket_fails_and_commits_nothing(cli, tmp_path, s3_server, bucket, gpg_keys, data):
    """Credentials that may read but not write: the upload is refused, the set fails, nothing is committed."""
    from support.s3server import READ_ONLY_ACCESS_KEY, READ_ONLY_SECRET_KEY

    key_file = tmp_path / "reader.txt"
    key_file.write_text(f"key={READ_ONLY_ACCESS_KEY}\nsecret={READ_ONLY_SECRET_KEY}\n")
    conf = config_for(tmp_path, s3_server, bucket, key_file, gpg_keys, data)
    result = cli("backup", "-c", conf)
    assert result.returncode == 1
    assert "FAILED" in result.stdout and "access denied" in result.stdout and bucket in result.stdout
    assert s3_server.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert not os.listdir(tmp_path / "diffs") or not any(n.endswith(".snar") for n in os.listdir(tmp_path / "diffs"))


def test_check_reports_every_problem_one_line_each(cli, tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data):
    conf = config_for(tmp_path, s3_server, bucket, s3_key_file, gpg_keys, data)
    good = cli("check", "-c", conf, check=True)
    assert "bucket: ok:" in good.stdout and "writable" in good.stdout and "checksums verified" in good.stdout
    assert f"set {data}: ok" in good.stdout and "recipient keys: ok: " + gpg_keys.fingerprint in good.stdout
    assert s3_server.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0  # the probe was removed

    conf = config_for(
        tmp_path, s3_server, "s3nb-missing", s3_key_file, gpg_keys, data, directories=[data, "/nonexistent/x"]
    )
    with open(conf) as handle:
        text = handle.read().replace(gpg_keys.email, "nobody@s3napback.invalid")
    with open(conf, "w") as handle:
        handle.write(text)
    bad = cli("check", "-c", conf, "--json")
    assert bad.returncode == 1
    checks = {c["name"]: c for c in json.loads(bad.stdout)}
    assert not checks["recipient keys"]["ok"] and "nobody@s3napback.invalid" in checks["recipient keys"]["detail"]
    assert not checks["set /nonexistent/x"]["ok"] and checks[f"set {data}"]["ok"]
    assert not checks["bucket"]["ok"] and "s3nb-missing" in checks["bucket"]["detail"]
    assert checks["config"]["ok"] and checks["tool tar"]["ok"]
    only = cli("check", "-c", conf, "--config-only", check=True)
    assert only.stdout.startswith("config: ok:") and "bucket" not in only.stdout


@pytest.fixture
def web_server():
    """``web_server(status, **headers)``: the URL of a plain web server (not S3) that gives every request that
    status and an HTML page, as a misconfigured S3Endpoint would."""
    servers = []

    def start(status: int, **headers: str) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = b"<html><body>Welcome to nginx!</body></html>"
                self.send_response(status)
                for name, value in {"Content-Type": "text/html", **headers}.items():
                    self.send_header(name, value.replace("PORT", str(self.server.server_address[1])))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = answer

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (200, {}, "did not answer with a bucket listing; check S3Endpoint"),  # used to "succeed", storing nothing
        (403, {}, "answered HTTP 403, not as S3 does; check S3Endpoint"),
        (
            301,
            {"Location": "http://127.0.0.1:PORT/elsewhere"},
            "redirects elsewhere; check S3Endpoint (https?) and S3Region",
        ),
    ],
)
def test_an_endpoint_that_is_not_s3_fails_the_backup_in_one_line(
    cli, tmp_path, s3_server, s3_key_file, gpg_keys, data, web_server, status, headers, expected
):
    endpoint = web_server(status, **headers)
    conf = config_for(tmp_path, s3_server, "any-bucket", s3_key_file, gpg_keys, data, endpoint=endpoint)
    result = cli("backup", "-c", conf)
    assert result.returncode == 3, result
    line = one_line_error(result)
    assert endpoint in line and line.endswith(expected), line
    assert not list(tmp_path.rglob("*.snar"))  # no snapshot file moved forward
