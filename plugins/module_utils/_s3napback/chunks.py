# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cut a stream into chunks of ChunkSize uncompressed bytes, encode each on its own, upload in parallel.

Each chunk gets its own compressor and gpg process, so every stored object can be fetched, checked and
decrypted alone. The raw stream is never held in Python: it is moved from the source pipe into the
current chunk's compressor (with splice(2) where available). gpg writes each chunk's encoded output into
an in-memory file that Python only maps, hashes and hands to the upload; at most ``parallel`` chunks are
in flight, so memory is bounded by parallel x ChunkSize whatever the size of the data.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import subprocess
import threading
import typing as t
import weakref
from concurrent.futures import Future, ThreadPoolExecutor

from .catalog import Chunk
from .errors import PipelineError, S3napbackError
from .pipeline import Chain, Stage, close_quietly, write_all

log = logging.getLogger(__name__)

BLOCK = 1 << 20  # bytes moved per system call (the size of our pipes)

StageFactory = t.Callable[[], t.List[Stage]]


def compress_stage(compression: str, level: t.Optional[int]) -> t.List[Stage]:
    if compression == "zstd":
        # -T0: zstd spreads each chunk over all cores; chunks are large enough for its jobs. At the usual
        # levels, 4 MiB jobs halve zstd's memory for 0.7 % more output (its default is 4 x the window).
        jobs = ["-B4M"] if (level or 3) <= 9 else []
        return [Stage("zstd", ["zstd", "-q", "-c", f"-{level or 3}", "-T0", *jobs])]
    if compression == "gzip":
        return [Stage("gzip", ["gzip", "-c", f"-{level or 6}", "-n"])]
    return []


def decompress_stage(compression: str) -> t.List[Stage]:
    if compression == "zstd":
        return [Stage("zstd", ["zstd", "-q", "-d", "-c"])]
    if compression == "gzip":
        return [Stage("gzip", ["gzip", "-d", "-c"])]
    return []


class Progress:
    """Counters shared by the feeder and the uploaders; read by the progress line."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bytes_read = 0
        self.bytes_uploaded = 0
        self.chunks = 0

    def add_read(self, count: int) -> None:
        with self.lock:
            self.bytes_read += count

    def add_uploaded(self, count: int) -> None:
        with self.lock:
            self.bytes_uploaded += count
            self.chunks += 1


class OutputBuffer:
    """Where one object's encoded bytes land: an in-memory file (memfd) that the last tool writes to itself.

    gpg (or the compressor) writes straight into it, so no pipe carries the output and Python never copies
    it: the SHA-256 and the upload read the pages through a mapping. A buffer given back to its pool keeps
    its pages, so the next chunk overwrites them instead of allocating and mapping fresh memory. It is
    memory, not a file system: nothing reaches the disk. The writer shares the descriptor's offset, so
    where it stopped is the object's length; writing past the mapped size grows the file, and the mapping
    follows. (This holds for tools that write their stdout in sequence, as zstd, gzip and gpg do; one that
    seeked over zeros or reopened /dev/stdout would not fit.)
    """

    def __init__(self, capacity: int) -> None:
        try:
            self.fd = os.memfd_create("s3napback-chunk", os.MFD_CLOEXEC)
        except OSError as exc:
            raise PipelineError(
                f"cannot make an in-memory buffer for a chunk (memfd_create: {exc.strerror}); "
                "s3napback needs Linux 3.17 or later, and memfd_create allowed by any seccomp filter"
            ) from None
        self._closer = weakref.finalize(self, os.close, self.fd)
        self.capacity = max(capacity, mmap.PAGESIZE)
        os.ftruncate(self.fd, self.capacity)
        self.memory = mmap.mmap(self.fd, self.capacity)
        self.length = 0

    def rewind(self) -> None:
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.length = 0

    def append(self, block: t.Union[bytes, memoryview]) -> None:
        write_all(self.fd, block)

    def seal(self) -> t.Any:
        """Once the writer is done: take the length it reached and return the SHA-256 of those bytes."""
        self.length = os.lseek(self.fd, 0, os.SEEK_CUR)
        if self.length > self.capacity:
            self._release_mapping()
            self.capacity = self.length
            self.memory = mmap.mmap(self.fd, self.capacity)
        digest = hashlib.sha256()
        with memoryview(self.memory) as whole, whole[: self.length] as written:
            digest.update(written)
        return digest

    def view(self) -> memoryview:
        """The object's bytes, without a copy (what is uploaded)."""
        return memoryview(self.memory)[: self.length]

    def close(self) -> None:
        self._release_mapping()
        self._closer()

    def _release_mapping(self) -> None:
        try:
            self.memory.close()
        except BufferError:  # a view is still held somewhere (an HTTP request object): unmapped with it
            pass


class BufferPool:
    """One OutputBuffer per chunk in flight, reused chunk after chunk; at most ``parallel`` ever exist.

    The capacity covers the worst case of encoding ChunkSize bytes: zstd and gzip grow incompressible data by
    well under 1 %, gpg adds a few packet headers.
    """

    def __init__(self, chunk_size: int) -> None:
        self.capacity = chunk_size + chunk_size // 64 + (1 << 20)
        self.free: t.List[OutputBuffer] = []
        self.closed = False
        self.lock = threading.Lock()

    def take(self) -> OutputBuffer:
        with self.lock:
            buffer = self.free.pop() if self.free else OutputBuffer(self.capacity)
        buffer.rewind()
        return buffer

    def give(self, buffer: OutputBuffer) -> None:
        with self.lock:
            if not self.closed:
                self.free.append(buffer)
                return
        buffer.close()  # an upload that finished after the stream gave up

    def close(self) -> None:
        """Close the buffers given back. One still in use (an upload interrupted by a second Ctrl-C) is closed
        when it is given back, or, if its upload failed, when it is garbage: never under a running upload."""
        with self.lock:
            self.closed = True
            free, self.free = self.free, []
        for buffer in free:
            buffer.close()


class Encoder:
    """One object's compressor and gpg, writing into an OutputBuffer; its SHA-256 is taken when it is done.

    The input is written by the caller (``input_fd``), or, with ``source``, read by the first stage straight
    from that descriptor (tar's member index). Without stages the raw bytes are the object.
    """

    def __init__(
        self, stages: t.List[Stage], source: t.Optional[int] = None, output: t.Optional[OutputBuffer] = None
    ) -> None:
        self.output = output if output is not None else OutputBuffer(1 << 20)
        self.output.rewind()
        self.digest: t.Any = None  # set by finish()
        self.chain: t.Optional[Chain] = None
        self.error: t.Optional[BaseException] = None
        self.copier: t.Optional[threading.Thread] = None
        if stages:
            stdin = subprocess.PIPE if source is None else source
            self.chain = Chain(stages, stdin=stdin, stdout=self.output.fd)
            if source is None:
                self.input_fd = t.cast(t.IO[bytes], self.chain.stdin).fileno()
        elif source is not None:
            self.copier = threading.Thread(target=self._copy, args=(source,), daemon=True)
            self.copier.start()

    def _copy(self, fd: int) -> None:
        try:
            for block in iter(lambda: os.read(fd, BLOCK), b""):
                self.output.append(block)
        except OSError as exc:  # pragma: no cover - only when the process is killed under us
            self.error = exc

    def write_raw(self, block: bytes) -> None:
        """Used only when there is no compressor and no gpg: the raw bytes are the object."""
        self.output.append(block)

    def finish(self) -> t.List[str]:
        warnings: t.List[str] = []
        if self.chain is not None:
            close_quietly(self.chain.stdin)
            warnings = self.chain.wait()
        if self.copier is not None:
            self.copier.join()
        if self.error is not None:  # pragma: no cover
            raise PipelineError(f"reading the member index failed: {self.error}")
        self.digest = self.output.seal()
        return warnings

    def kill(self) -> None:
        """Stop the tools; with a copier, wait for it (it ends once the source's writer is gone), so the
        buffer is never closed under its writes."""
        if self.chain is not None:
            close_quietly(self.chain.stdin)
            self.chain.kill()
        if self.copier is not None:
            self.copier.join()


def _move(source_fd: int, encoder: Encoder, count: int) -> int:
    """Move up to ``count`` bytes from the source into the encoder; 0 means end of stream."""
    if encoder.chain is not None and hasattr(os, "splice"):
        try:
            return os.splice(source_fd, encoder.input_fd, count)  # kernel to kernel, no copy through Python
        except OSError as exc:
            if exc.errno not in (22,):  # EINVAL: not a pipe, fall back to read/write
                raise
    block = os.read(source_fd, count)
    if block:
        if encoder.chain is None:
            encoder.write_raw(block)
        else:
            write_all(encoder.input_fd, block)
    return len(block)


def upload_stream(
    source_fd: int,
    *,
    put: t.Callable[[int, memoryview, bytes], str],
    chunk_key: t.Callable[[int], str],
    chunk_size: int,
    parallel: int,
    stages: StageFactory,
    progress: t.Optional[Progress] = None,
) -> t.Tuple[t.List[Chunk], t.List[str], str]:
    """Read ``source_fd`` to its end; return the chunks, encoder warnings and the weakest server check.

    ``put(index, data, sha256_digest)`` uploads one object and returns "verified" or "unchecked".
    At least one chunk is always written, so even an empty stream restores.
    """
    progress = progress or Progress()
    buffers = BufferPool(chunk_size)
    slots = threading.BoundedSemaphore(parallel)
    failed = threading.Event()
    futures: t.List[Future] = []
    warnings: t.List[str] = []
    encoders: t.List[Encoder] = []

    def finish_and_upload(index: int, encoder: Encoder, offset: int, length: int) -> t.Tuple[Chunk, str]:
        try:
            if failed.is_set():
                encoder.kill()
                raise S3napbackError("cancelled")
            warnings.extend(encoder.finish())
            size = encoder.output.length
            check = put(index, encoder.output.view(), encoder.digest.digest())
            progress.add_uploaded(size)
            # the buffer is reused only once the upload is over (botocore's retries included)
            buffers.give(encoder.output)
            return Chunk(index, chunk_key(index), offset, length, size, encoder.digest.hexdigest()), check
        except BaseException:
            failed.set()
            encoder.kill()
            raise
        finally:
            slots.release()

    try:
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="s3napback-upload") as pool:
            try:
                index = offset = 0
                at_end = False
                while not at_end and not failed.is_set():
                    slots.acquire()
                    if failed.is_set():
                        slots.release()
                        break
                    encoder = Encoder(stages(), output=buffers.take())
                    encoders.append(encoder)
                    length = 0
                    while length < chunk_size:
                        try:
                            moved = _move(source_fd, encoder, min(BLOCK, chunk_size - length))
                        except BrokenPipeError:
                            # the encoder died: its own exit status and stderr say why
                            failed.set()
                            encoder.finish()
                            raise PipelineError("the compressor or gpg stopped reading its input") from None
                        if moved == 0:
                            at_end = True
                            break
                        length += moved
                        progress.add_read(moved)
                    if length == 0 and index > 0:
                        encoder.kill()
                        slots.release()
                        break
                    futures.append(pool.submit(finish_and_upload, index, encoder, offset, length))
                    index += 1
                    offset += length
            except BaseException:
                failed.set()
                for encoder in encoders:
                    encoder.kill()
                raise
            results = []
            first_error: t.Optional[BaseException] = None
            for future in futures:
                try:
                    results.append(future.result())
                except BaseException as exc:  # keep the first real cause, not a "cancelled"
                    if first_error is None or str(first_error) == "cancelled":
                        first_error = exc
            if first_error is not None:
                raise first_error
    finally:
        buffers.close()  # every upload is over: nothing reads the buffers any more
    chunks = [chunk for chunk, _check in results]
    checks = {check for _chunk, check in results}
    return chunks, warnings, "verified" if checks == {"verified"} else "unchecked"
