"""``extract_article`` in worker processes, fed and read by the reactor's own event loop.

Why not ``concurrent.futures.ProcessPoolExecutor``: it hands every page over through two
helper threads in this process (a manager thread and a queue feeder), and each page then costs
several GIL hand-overs with the busy reactor thread. Measured on a 2,000-article crawl, that
pool took 86% of the pages off the main process yet saved little of its CPU (2.26-2.58 against
2.57-2.62 CPU-seconds per 1,000 articles in-process). Here each worker has one socket; the
event loop writes a page to it and reads results from it when it is readable, with no thread
at all: the main process's cost per page is a pickle of plain values and a ``send`` (measured:
1.81-2.09 against 2.22-2.37 in-process, the same machine and load).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import pickle
import socket
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from scrapy.http import TextResponse

from newsarchive.extraction import Extraction, extract_article, extract_response

logger = logging.getLogger(__name__)

#: A frame on a worker's socket: its length (unsigned 32-bit, big-endian), then a pickle.
_LENGTH = struct.Struct("!I")
#: Pages queued per worker before the next one is extracted in the crawl's own thread.
MAX_PENDING_PER_WORKER = 32
_READ_SIZE = 256 * 1024
#: The job number of a worker's first frame: it has imported everything and waits for pages.
_READY = 0


def _frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def _receive_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, _READ_SIZE))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def serve(sock: socket.socket) -> None:
    """A worker: say it is ready (job 0), then extract each page it is sent and answer with
    the plain dict, until EOF."""
    with sock, contextlib.suppress(ConnectionError):
        # A crawl that closes its end with our frames unread resets the socket: an end too.
        sock.sendall(_frame((_READY, None)))
        while (header := _receive_exactly(sock, _LENGTH.size)) is not None:
            body = _receive_exactly(sock, _LENGTH.unpack(header)[0])
            if body is None:
                return
            job, arguments = pickle.loads(body)
            try:
                answer: Any = extract_article(*arguments)
            except Exception:  # the crawl's own thread extracts it again and meets the error
                answer = None
            sock.sendall(_frame((job, answer)))


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process
    sock: socket.socket
    outgoing: deque[memoryview] = field(default_factory=deque)
    incoming: bytearray = field(default_factory=bytearray)
    pending: dict[int, asyncio.Future] = field(default_factory=dict)
    writing: bool = False
    ready: bool = False
    #: Set once the worker is ready, or gone.
    started: asyncio.Event = field(default_factory=asyncio.Event)


class ArticleExtractor:
    """``extract_article`` in ``workers`` spawned processes, awaited from the reactor's loop.

    Workers are spawned (never forked from a process running a reactor and threads) at once,
    so their start-up overlaps the crawl's; until a worker says it is ready, pages are
    extracted here. Up to ``MAX_PENDING_PER_WORKER`` pages wait per
    worker; beyond that, and for a page a worker could not extract, the page is extracted
    here, in the reactor's thread, so the crawl never waits on a worker that fell behind. A
    worker that dies hands its pages back the same way.
    """

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        for _ in range(workers):
            ours, theirs = socket.socketpair()
            process = context.Process(target=serve, args=(theirs,), daemon=True)
            process.start()
            theirs.close()
            ours.setblocking(False)
            self._workers.append(_Worker(process, ours))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._chunk = bytearray(_READ_SIZE)
        self._view = memoryview(self._chunk)
        self._jobs = 0
        #: Pages extracted by the workers and in this process: the share the workers took.
        self.in_workers = self.in_process = 0

    async def extract(
        self,
        response: TextResponse,
        crawled_at: str,
        run_id: str | None,
        with_stream_links: bool = False,
    ) -> Extraction:
        if self._loop is None:
            self._start_reading(asyncio.get_running_loop())
        ready = (w for w in self._workers if w.ready)
        worker = min(ready, key=lambda w: len(w.pending), default=None)
        if worker is None or len(worker.pending) >= MAX_PENDING_PER_WORKER:
            # still starting, or behind: the page is extracted here, nobody waits
            return self._here(response, crawled_at, run_id, with_stream_links)
        self._jobs += 1
        job = self._jobs
        arguments = (
            response.url, response.body, response.encoding, crawled_at, run_id, with_stream_links
        )  # fmt: skip
        future = self._loop.create_future()  # type: ignore[union-attr]
        worker.pending[job] = future
        self._send(worker, _frame((job, arguments)))
        answer = await future
        if answer is None:  # the worker failed on it or died: this thread meets the error
            return self._here(response, crawled_at, run_id, with_stream_links)
        self.in_workers += 1
        return Extraction(**answer)

    async def wait_until_ready(self) -> bool:
        """Wait until every worker has started (bound it with ``asyncio.timeout``); True if
        any worker is left to extract."""
        if self._loop is None:
            self._start_reading(asyncio.get_running_loop())
        for worker in list(self._workers):
            await worker.started.wait()
        return bool(self._workers)

    def _here(self, response: TextResponse, *arguments: Any) -> Extraction:
        self.in_process += 1
        return extract_response(response, *arguments)

    def _start_reading(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        for worker in self._workers:
            loop.add_reader(worker.sock.fileno(), self._read, worker)

    # --- the sockets, non-blocking, from the event loop ---------------------------------

    def _send(self, worker: _Worker, frame: bytes) -> None:
        worker.outgoing.append(memoryview(frame))
        if not worker.writing:
            self._write(worker)

    def _write(self, worker: _Worker) -> None:
        try:
            while worker.outgoing:
                chunk = worker.outgoing[0]
                sent = worker.sock.send(chunk)
                if sent < len(chunk):
                    worker.outgoing[0] = chunk[sent:]
                    break
                worker.outgoing.popleft()
        except BlockingIOError:
            pass
        except OSError:
            self._lost(worker)
            return
        waiting = bool(worker.outgoing)
        if waiting != worker.writing and self._loop is not None:
            if waiting:
                self._loop.add_writer(worker.sock.fileno(), self._write, worker)
            else:
                self._loop.remove_writer(worker.sock.fileno())
            worker.writing = waiting

    def _read(self, worker: _Worker) -> None:
        try:
            # Into one reused buffer: a fresh 1 MiB bytes per read, shrunk to what came,
            # grew the crawl's heap by tens of MiB over 20,000 pages.
            size = worker.sock.recv_into(self._chunk)
        except BlockingIOError:
            return
        except OSError:
            size = 0
        if not size:
            self._lost(worker)
            return
        buffer = worker.incoming
        buffer += self._view[:size]
        offset = 0
        while len(buffer) - offset >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(buffer, offset)
            end = offset + _LENGTH.size + size
            if len(buffer) < end:
                break
            job, answer = pickle.loads(memoryview(buffer)[offset + _LENGTH.size : end])
            offset = end
            if job == _READY:
                worker.ready = True
                worker.started.set()
                continue
            future = worker.pending.pop(job, None)
            if future is not None and not future.done():
                future.set_result(answer)
        del buffer[:offset]

    def _lost(self, worker: _Worker) -> None:
        """A worker that closed its socket or died: its pages are extracted here."""
        if worker in self._workers:
            self._workers.remove(worker)
            if worker.pending:
                logger.warning(
                    "An extraction worker stopped; its %d pages are extracted in the crawl's "
                    "own process",
                    len(worker.pending),
                )
        self._forget(worker)

    def _forget(self, worker: _Worker) -> None:
        if self._loop is not None and worker.sock.fileno() >= 0:
            self._loop.remove_reader(worker.sock.fileno())
            if worker.writing:
                self._loop.remove_writer(worker.sock.fileno())
        worker.sock.close()
        worker.started.set()
        for future in worker.pending.values():
            if not future.done():
                future.set_result(None)
        worker.pending.clear()

    def close(self) -> None:
        """Close the sockets: each worker ends at EOF on its own.

        Not waited for: a worker's interpreter shutdown took 0.1-0.3 s of the crawl's close,
        and it now overlaps the rest of that close (the WARC files, the manifest). Daemonic,
        a worker still exiting when the crawl does is ended and reaped by multiprocessing.
        """
        workers, self._workers = self._workers, []
        for worker in workers:
            self._forget(worker)
        logger.info(
            "Extracted %d article pages in worker processes, %d in the crawl's own",
            self.in_workers,
            self.in_process,
        )
