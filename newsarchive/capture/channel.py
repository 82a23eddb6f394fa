"""The crawl's end of the recorder process (newsarchive.capture.recorder): start, feed, close.

Back-pressure: frames go through an asyncio pipe transport whose buffer may hold at most
``budget`` bytes (``NEWSARCHIVE_WARC_QUEUE_BYTES``) before ``send`` waits on the event loop
for the recorder to catch up. A slow disk slows the crawl down; it never fills the crawl's
memory. One frame always goes through, whatever its size. If the recorder dies, ``send``
stops waiting on it and the run's capture is reported as failed.

Priority: the recorder runs ``niceness`` below the crawl (``NEWSARCHIVE_WARC_RECORDER_NICENESS``,
19 by default). Its work can wait (frames queue in the pipe, within the budget), the crawl's
and its extraction workers' cannot: on two cores, three busy processes at one priority cost a
2,000-article crawl 8% with capture on (0.92 of capture off, 6 interleaved rounds); at
niceness 19 it lost 3% (0.97), the recorder taking what the other two leave. On a machine
busy with other work the recorder falls behind sooner, and the back-pressure then paces the
crawl to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import newsarchive

logger = logging.getLogger(__name__)

COMMAND = [sys.executable, "-m", "newsarchive.capture.recorder"]
#: The pipe's own kernel buffer (Linux lets a user raise it to 1 MiB): fewer wake-ups.
_PIPE_BYTES = 1024 * 1024
#: The result line lists every WARC file: longer than asyncio's default line limit.
_LINE_LIMIT = 16 * 1024 * 1024


def _environment() -> dict[str, str]:
    """The crawl's environment, with the folder this newsarchive was imported from first on
    the path: under Scrapyd the crawl runs the project's egg, and so must the recorder."""
    home = str(Path(newsarchive.__file__).resolve().parents[1])
    path = [home, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def _lower_priority(pid: int, niceness: int) -> None:
    """Set process ``pid`` ``niceness`` below this one (19 at most, as ``nice`` caps it).
    Done from here, just after the spawn, so that the recorder's start-up (imports, ~0.2 s of
    CPU) already runs below the crawl's; a ``preexec_fn`` would cost the spawn its vfork."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + niceness))
    except OSError as exc:  # it ended already: close() tells why
        logger.debug("The recorder process's priority stays as it is: %s", exc)


class RecorderProcess:
    """One run's recorder. ``send`` a frame per exchange, then ``close`` for the result."""

    def __init__(self, process: asyncio.subprocess.Process, on_lost: Callable[[str], None]) -> None:
        self.process = process
        self.on_lost = on_lost
        self.lost: str | None = None
        assert process.stdin is not None and process.stdout is not None
        self._stdin = process.stdin
        self._transport: Any = process.stdin.transport
        self.budget = self._transport.get_write_buffer_limits()[1]
        #: Back-pressure as it was: the most bytes ever waiting here, the seconds spent waiting.
        self.peak_waiting = 0
        self.waited = 0.0
        self._result: dict[str, Any] | None = None
        self._reading = asyncio.ensure_future(self._read(process.stdout))

    @classmethod
    async def start(cls, config: dict[str, Any], budget: int, on_lost: Callable[[str], None],
                    *, niceness: int) -> Self:  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            *COMMAND, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT, env=_environment(),
        )  # fmt: skip
        assert process.stdin is not None
        if niceness:
            _lower_priority(process.pid, niceness)
        transport: Any = process.stdin.transport
        transport.set_write_buffer_limits(high=budget)
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(transport.get_extra_info("pipe").fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        recorder = cls(process, on_lost)
        await recorder.send(config)
        return recorder

    async def send(self, frame: Any) -> None:
        """Hand one frame to the recorder; wait while its pipe holds ``budget`` bytes."""
        if self.lost is not None:
            return
        try:
            self._stdin.write(pickle.dumps(frame, pickle.HIGHEST_PROTOCOL))
            waiting = self._transport.get_write_buffer_size()
            self.peak_waiting = max(self.peak_waiting, waiting)
            if waiting > self.budget or self._transport.is_closing():
                started = time.monotonic()
                await self._stdin.drain()  # room again, or the recorder is gone (raises)
                self.waited += time.monotonic() - started
        except (ConnectionError, RuntimeError) as exc:
            self._lose(f"the recorder process stopped reading ({exc or type(exc).__name__})")

    @property
    def buffered_bytes(self) -> int:
        return self._transport.get_write_buffer_size()

    async def close(self) -> dict[str, Any] | None:
        """Ask for the package and wait for the recorder's result (None if it died)."""
        await self.send(None)
        with contextlib.suppress(ConnectionError, RuntimeError):
            self._stdin.close()
            await self._stdin.wait_closed()
        await self._reading
        code = await self.process.wait()
        if self._result is None:
            self._lose(f"the recorder process ended with exit status {code} and no result")
        return self._result

    def _lose(self, why: str) -> None:
        if self.lost is None:
            self.lost = why
            self.on_lost(why)

    async def _read(self, stdout: asyncio.StreamReader) -> None:
        """The recorder's messages, as they come: log lines, then the result."""
        async for raw in stdout:
            line = raw.decode("utf-8", "replace").strip()
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            if isinstance(message, dict) and "result" in message:
                self._result = message["result"]
            elif isinstance(message, dict) and "message" in message:
                level = logging.ERROR if message.get("level") == "error" else logging.INFO
                logger.log(level, "%s", message["message"])
            elif line:  # py-wacz's own progress lines
                logger.info("recorder: %s", line)
