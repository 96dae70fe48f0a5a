# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The buffers chunks are encoded into: filled from real pipes, reused chunk after chunk, grown when needed.

A reused buffer must hold exactly the new chunk's bytes (never a tail of the one before), and the SHA-256
must be that of those bytes: both end up in the manifest and on S3.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import typing as t

import pytest

from _s3napback.chunks import BufferPool, Encoder, OutputBuffer, upload_stream
from _s3napback.pipeline import Stage, write_all


def _write_with_a_tool(buffer: OutputBuffer, data: bytes) -> t.Any:
    """Have a real process (cat) write ``data`` into the buffer, as gpg does; return the sealed digest."""
    process = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=buffer.fd)  # noqa: S603, S607
    process.communicate(data)
    assert process.returncode == 0
    return buffer.seal()


def test_a_buffer_holds_what_the_tool_wrote_and_grows_past_its_capacity() -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    buffer = OutputBuffer(64 * 1024)
    digest = _write_with_a_tool(buffer, data)
    assert buffer.length == len(data)
    assert buffer.capacity >= len(data)
    assert bytes(buffer.view()) == data
    assert digest.digest() == hashlib.sha256(data).digest()
    buffer.close()


def test_a_reused_buffer_holds_only_the_new_chunk() -> None:
    pool = BufferPool(1 << 20)
    first = pool.take()
    _write_with_a_tool(first, b"A" * 900_000)
    pool.give(first)
    second = pool.take()
    assert second is first  # the pages are reused, not allocated afresh
    digest = _write_with_a_tool(second, b"short")
    assert bytes(second.view()) == b"short"
    assert digest.digest() == hashlib.sha256(b"short").digest()
    pool.close()


def test_the_pool_never_hands_out_a_buffer_twice_and_closes_them_all() -> None:
    pool = BufferPool(1 << 20)
    taken = [pool.take() for _count in range(3)]
    assert len({id(b) for b in taken}) == 3
    assert pool.capacity > 1 << 20  # room for the worst-case growth of incompressible data
    pool.give(taken[0])
    pool.give(taken[1])
    pool.close()  # taken[2] is still being uploaded: it stays open
    late = taken[2].fd
    os.fstat(late)
    pool.give(taken[2])  # its upload ends after the stream gave up: closed as it comes back
    for fd in [b.fd for b in taken[:2]] + [late]:
        with pytest.raises(OSError):
            os.fstat(fd)


def test_append_writes_in_order() -> None:
    buffer = OutputBuffer(4096)
    blocks = [os.urandom(3000) for _count in range(5)]
    for block in blocks:
        buffer.append(block)
    assert buffer.seal().digest() == hashlib.sha256(b"".join(blocks)).digest()
    assert bytes(buffer.view()) == b"".join(blocks)
    buffer.close()


def test_encoder_collects_a_real_tools_output_into_a_pooled_buffer() -> None:
    pool = BufferPool(1 << 20)
    data = os.urandom(2 * 1024 * 1024 + 5)  # larger than one pipe's worth
    encoder = Encoder([Stage("cat", ["cat"])], output=pool.take())
    write_all(encoder.input_fd, data)
    assert encoder.finish() == []
    assert bytes(encoder.output.view()) == data
    assert encoder.digest.hexdigest() == hashlib.sha256(data).hexdigest()
    pool.give(encoder.output)
    pool.close()


def test_upload_stream_reuses_buffers_and_every_chunk_is_its_own_bytes() -> None:
    """Many chunks through few buffers: each upload sees exactly its chunk, whatever came before it."""
    data = os.urandom(300_000) + b"\0" * 500_000 + os.urandom(123_457)
    uploaded: dict = {}

    def put(index: int, body: memoryview, sha256: bytes) -> str:
        content = bytes(body)
        assert hashlib.sha256(content).digest() == sha256
        uploaded[index] = content
        return "verified"

    read_end, write_end = os.pipe()
    writer = threading.Thread(target=lambda: (write_all(write_end, data), os.close(write_end)))
    writer.start()
    try:
        chunks, warnings, check = upload_stream(
            read_end,
            put=put,
            chunk_key=lambda index: f"chunk-{index}",
            chunk_size=64 * 1024,
            parallel=2,
            stages=lambda: [Stage("cat", ["cat"])],
        )
    finally:
        writer.join()
        os.close(read_end)
    assert check == "verified" and warnings == []
    assert len(chunks) == len(uploaded) == -(-len(data) // (64 * 1024))
    assert b"".join(uploaded[i] for i in range(len(uploaded))) == data
    assert [c.offset for c in chunks] == [i * 64 * 1024 for i in range(len(chunks))]
    assert all(c.size == len(uploaded[c.index]) and c.length == len(uploaded[c.index]) for c in chunks)
