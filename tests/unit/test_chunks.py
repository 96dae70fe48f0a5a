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
import threading
import typing as t

from _s3napback.chunks import BufferPool, Encoder, OutputBuffer, upload_stream
from _s3napback.pipeline import Stage, write_all


def _fill_from_pipe(buffer: OutputBuffer, data: bytes) -> t.Any:
    digest = hashlib.sha256()
    read_end, write_end = os.pipe()

    def write() -> None:
        write_all(write_end, data)
        os.close(write_end)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while buffer.read_from(read_end, digest):
            pass
    finally:
        writer.join()
        os.close(read_end)
    return digest


def test_a_buffer_holds_what_the_pipe_carried_and_grows_past_its_capacity() -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    buffer = OutputBuffer(64 * 1024)
    digest = _fill_from_pipe(buffer, data)
    assert buffer.length == len(data)
    assert buffer.capacity >= len(data)
    assert bytes(buffer.view()) == data
    assert digest.digest() == hashlib.sha256(data).digest()


def test_a_reused_buffer_holds_only_the_new_chunk() -> None:
    pool = BufferPool(1 << 20)
    first = pool.take()
    _fill_from_pipe(first, b"A" * 900_000)
    pool.give(first)
    second = pool.take()
    assert second is first  # the pages are reused, not mapped afresh
    digest = _fill_from_pipe(second, b"short")
    assert bytes(second.view()) == b"short"
    assert digest.digest() == hashlib.sha256(b"short").digest()


def test_the_pool_never_hands_out_a_buffer_twice() -> None:
    pool = BufferPool(1 << 20)
    taken = [pool.take() for _ in range(3)]
    assert len({id(b) for b in taken}) == 3
    assert pool.capacity > 1 << 20  # room for the worst-case growth of incompressible data


def test_append_grows_and_keeps_order() -> None:
    buffer = OutputBuffer(4096)
    blocks = [os.urandom(3000) for _ in range(5)]
    for block in blocks:
        buffer.append(block)
    assert bytes(buffer.view()) == b"".join(blocks)


def test_encoder_collects_a_real_tools_output_into_a_pooled_buffer() -> None:
    pool = BufferPool(1 << 20)
    data = os.urandom(2 * 1024 * 1024 + 5)  # larger than one pipe's worth
    encoder = Encoder([Stage("cat", ["cat"])], output=pool.take())
    write_all(encoder.input_fd, data)
    assert encoder.finish() == []
    assert bytes(encoder.output.view()) == data
    assert encoder.digest.hexdigest() == hashlib.sha256(data).hexdigest()


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
