# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Chunk uploads survive throttling, server errors and dropped connections, and resend every byte.

A real S3 server cannot be made to fail on demand, so these tests put a small HTTP server on loopback that
answers like S3 does (XML error codes, the checksum echoed on success) and fails as told. The client is the
engine's own (make_client: botocore with its retries), and the body is a view of a reused chunk buffer, as
in a backup.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
import typing as t

import pytest

from _s3napback.errors import StorageError
from _s3napback.s3 import ChunkBody, S3Settings, S3Store

ERROR = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>'


class FlakyS3(http.server.ThreadingHTTPServer):
    """Answers PUTs from a script: 'ok', 'drop' (close mid-body), or an HTTP status with an S3 error code."""

    def __init__(self, script: t.List[str]) -> None:
        super().__init__(("127.0.0.1", 0), FlakyHandler)
        self.script = script
        self.received: t.List[t.Tuple[str, bytes]] = []  # (what was answered, the body that arrived)

    def next_answer(self) -> str:
        return self.script.pop(0) if self.script else "ok"


class FlakyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FlakyS3

    def do_PUT(self) -> None:  # noqa: N802 - the name http.server dispatches to
        length = int(self.headers["Content-Length"])
        answer = self.server.next_answer()
        if answer == "drop":
            self.server.received.append((answer, self.rfile.read(length // 2)))
            self.close_connection = True
            self.connection.shutdown(2)
            return
        body = self.rfile.read(length)
        self.server.received.append((answer, body))
        if answer == "ok":
            self.send_response(200)
            self.send_header("ETag", f'"{hashlib.md5(body).hexdigest()}"')  # noqa: S324 - S3's ETag
            self.send_header("x-amz-checksum-sha256", self.headers["x-amz-checksum-sha256"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, code = answer.split(":")
        message = ERROR % (code.encode(), b"try again")
        self.send_response(int(status))
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(message)))
        self.end_headers()
        self.wfile.write(message)

    def log_message(self, *args: t.Any) -> None:
        pass


@pytest.fixture
def flaky_s3(request):
    server = FlakyS3(list(request.param))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _store(server: FlakyS3, key_file, attempts: int = 5) -> S3Store:
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    return S3Store(S3Settings(bucket="chunks", endpoint_url=endpoint, key_file=str(key_file), attempts=attempts))


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "s3key"
    path.write_text("key=ACCESS\nsecret=SECRET\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def chunk():
    """A view of a larger buffer, as the uploads get it: only the view's bytes may be sent."""
    buffer = bytearray(os.urandom(3 * 1024 * 1024 + 7) + b"stale tail of an earlier chunk")
    return memoryview(buffer)[: 3 * 1024 * 1024 + 7]


@pytest.mark.parametrize(
    "flaky_s3",
    [["503:SlowDown"], ["500:InternalError", "503:ServiceUnavailable"], ["drop"]],
    indirect=True,
    ids=["throttled", "two-server-errors", "dropped-connection"],
)
def test_a_chunk_upload_is_retried_with_every_byte(flaky_s3, key_file, chunk) -> None:
    digest = hashlib.sha256(chunk).digest()
    assert _store(flaky_s3, key_file).put("host/set/chunk-000000", chunk, digest) == "verified"
    answers = [answer for answer, _body in flaky_s3.received]
    assert answers[-1] == "ok" and len(answers) >= 2
    assert flaky_s3.received[-1][1] == bytes(chunk)  # the retry resent the chunk from its first byte


@pytest.mark.parametrize("flaky_s3", [["500:InternalError"] * 20], indirect=True, ids=["always-failing"])
def test_an_upload_that_keeps_failing_names_the_servers_answer(flaky_s3, key_file, chunk) -> None:
    with pytest.raises(StorageError) as failure:
        _store(flaky_s3, key_file, attempts=2).put("host/set/chunk-000000", chunk, hashlib.sha256(chunk).digest())
    message = str(failure.value)
    assert "\n" not in message
    assert "InternalError" in message and "chunk-000000" in message
    assert len(flaky_s3.received) >= 3  # botocore's own retries, then ours


def test_a_chunk_body_is_sent_as_one_block_and_rewinds() -> None:
    view = memoryview(b"abcdef")[1:4]
    body = ChunkBody(view)
    assert len(body) == 3 and [bytes(block) for block in body] == [b"bcd"]
    assert body.seek(0) == 0 and body.tell() == 0 and not hasattr(body, "read")
