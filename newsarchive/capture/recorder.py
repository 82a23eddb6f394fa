"""The recorder process: writes a run's WARC files, indexes them as written, packages the WACZ.

Why a process (``python -m newsarchive.capture.recorder``, started by the crawl when the
spider opens): building WARC records, gzip, digests and the CDXJ index are CPU work, much of
it in Python; in a thread of the crawl they held the GIL against the reactor. Here they run
on another core, and the crawl only pickles each exchange into a pipe.

The pipe from the crawl (stdin) carries pickles: first the run's configuration (a dict), then
one frame per exchange (a tuple, ``Exchange.from_frame``), then ``None``, which asks for the
package. Messages go back as JSON lines on stdout: ``{"level", "message"}`` for
the crawl's log, then one ``{"result": …}``. Whatever else py-wacz prints there is logged too.

An end of input without ``None`` means the crawl is gone (killed): the files are closed
(every record the pipe delivered is written; each went to disk whole as it came) and nothing
is packaged. Ctrl-C and SIGTERM are the crawl's to handle: the recorder ignores them and
ends when the crawl closes the pipe.
"""

from __future__ import annotations

import fcntl
import importlib
import io
import json
import os
import pickle
import resource
import select
import signal
import struct
import sys
import termios
import types
from pathlib import Path
from typing import IO, Any, NoReturn

from newsarchive.capture import PAGES_NAME
from newsarchive.capture.package import LiveIndex, package_run, quiet_py_wacz
from newsarchive.capture.writer import Exchange, WarcFiles


def _say(channel: IO[str], **message: Any) -> None:
    try:
        channel.write(json.dumps(message) + "\n")
        channel.flush()
    except (BrokenPipeError, ValueError):  # the crawl is gone: nobody is left to tell
        pass


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [repr(exc)])[0]


def record(source: IO[bytes] | FrameSource, channel: IO[str]) -> int:
    """Read the crawl's frames from ``source`` until ``None``; 0 once packaged (or nothing
    to package), 1 if the crawl went away first."""
    config = pickle.load(source)
    folder = Path(config["folder"])
    index = LiveIndex().start()
    files = WarcFiles(folder, config["run_id"], config["info"], config["max_bytes"], index)
    failed: str | None = None
    while True:
        try:  # one unpickler per frame: a reused one would keep the previous frame's memo
            frame = pickle.load(source)
        except (EOFError, pickle.UnpicklingError):  # the crawl is gone, maybe mid-frame
            frame = _GONE
        if frame is None or frame is _GONE:
            break
        if failed is None:  # after a failure (disk full, …) keep draining, write nothing more
            try:
                files.write(Exchange.from_frame(frame))
            except Exception as exc:
                failed = _first_line(exc)
                why = f"Writing the run's WARC files in {folder} failed: {failed}"
                _say(channel, level="error", message=why)
    try:
        files.close()
    except OSError as exc:
        failed = failed or _first_line(exc)
    if frame is _GONE:
        return 1
    result: dict[str, Any] = {
        "paths": [str(path) for path in files.paths],
        "exchanges": files.exchanges,
        "pages": files.pages,
        "response_bytes": files.response_bytes,
        "failed": failed,
    }
    if files.paths:
        _say(channel, level="info",
             message=f"WARC: {files.exchanges} records in {len(files.paths)} file(s) in "
                     f"{folder}; packaging the run as WACZ")  # fmt: skip
        package = package_run(index, files.paths, folder / PAGES_NAME, Path(config["wacz"]),
                              config["title"], files.exchanges)  # fmt: skip
        result.update(wacz=str(package.path), wacz_bytes=package.bytes, wacz_error=package.error)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.update(cpu_seconds=round(usage.ru_utime + usage.ru_stime, 3),
                  peak_rss_kib=_peak_rss_kib())  # fmt: skip
    _say(channel, result=result)
    return 0


_GONE = object()
#: Read the pipe in bursts (``BurstReader``): when nothing waits, nap this long first.
_NAP_SECONDS = 0.02
_READ_BUFFER = 2 * 1024 * 1024


class BurstReader(io.RawIOBase):
    """The crawl's pipe, read a burst of frames at a time rather than a frame as it comes.

    A recorder woken for each frame (every 2 ms at a crawl's pace) took about a quarter more
    CPU than one fed from a file (0.87 against 0.68 s for 2,000 frames, on a loaded machine):
    each frame met cold caches and a wake-up. In bursts it took 0.72-0.77 s. So when what is
    buffered is used up and nothing waits in the pipe, the reader naps ``_NAP_SECONDS`` first;
    whenever anything waits it reads at once, so a recorder behind the crawl never naps and
    a small pipe never throttles it. Nothing is held up that matters: the frames wait in the
    pipe (the crawl's writes wake no one), 20 ms of a crawl is far less than the crawl may
    hold (``NEWSARCHIVE_WARC_QUEUE_BYTES``), and its back-pressure is unchanged. The nap ends
    early when the crawl closes its end: then every frame is in the pipe, and the crawl is
    waiting for the package."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        self._ended = False
        # Woken by the crawl's hang-up only: POLLHUP is reported though no event is asked for,
        # and POLLIN (a frame came) is not asked for.
        self._hang_up = select.poll()
        self._hang_up.register(fd, 0)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._ended and _waiting(self.fd) == 0:
            self.nap()
        count = os.readv(self.fd, [buffer])
        self._ended = count == 0
        return count

    def nap(self) -> None:
        """``_NAP_SECONDS``, or until the crawl closes its end of the pipe."""
        self._hang_up.poll(_NAP_SECONDS * 1000)


class FrameSource:
    """The buffered pipe as ``pickle.load`` should read it: ``read``, ``readinto`` and
    ``readline``, but no ``peek``. Given a file that can peek, the unpickler asks it for
    128 KiB ahead of every frame, and ``BufferedReader.peek`` answers with a copy of all it
    holds (up to ``_READ_BUFFER``): that copy was 45 of the 60 µs a 21 KB frame took to
    unpickle (``bench/bench_recorder.py``)."""

    def __init__(self, reader: io.BufferedReader) -> None:
        self.read = reader.read
        self.readinto = reader.readinto
        self.readline = reader.readline


def pipe_source(fd: int) -> FrameSource:
    """The crawl's pipe ``fd``, read in bursts into a large buffer, for ``pickle.load``."""
    return FrameSource(io.BufferedReader(BurstReader(fd), _READ_BUFFER))


def _waiting(fd: int) -> int:
    """Bytes waiting in the pipe (1 where that cannot be told: no nap)."""
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 1


def _peak_rss_kib() -> int:
    """This process's own peak RSS (VmHWM): getrusage's counts the crawl's memory the
    process was forked from."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class _OnFirstUse(types.ModuleType):
    """Stands in for a module until one of its attributes is read, then imports it. (The
    standard library's ``importlib.util.LazyLoader`` loads on ``import`` itself in Python
    3.11, which reads the module's ``__spec__``.)"""

    def __getattr__(self, name: str) -> Any:
        # This stand-in and its package's go first: the real package must be found to import.
        parts = self.__name__.split(".")
        for depth in range(len(parts), 0, -1):
            held = ".".join(parts[:depth])
            if isinstance(sys.modules.get(held), _OnFirstUse):
                del sys.modules[held]
        return getattr(importlib.import_module(self.__name__), name)


def skip_unused_imports() -> None:
    """Spare the recorder's start what py-wacz's index imports and a crawl's index never uses
    (about 75 ms of the recorder's ~150 ms of fixed CPU, on the second core while the crawl
    starts):

    - ``surt`` imports ``tldextract`` (and with it ``requests``, ``filelock``, …) for public
      suffixes, never for the SURT key: it gets a stand-in, imported on first use.
    - py-wacz imports ``boilerpy3.extractors`` (35 ms, most of it compiling regular
      expressions) for the page text it extracts only when asked (``extract_text``, which
      the recorder never asks): a stand-in too.
    - ``pyamf`` (cdxj-indexer reads AMF request bodies with it) asks ``pkg_resources`` for its
      own adapters folder and falls back to its ``__file__``'s folder, the same one, when
      ``pkg_resources`` cannot be imported: it is kept out while pyamf loads.
    """
    if "tldextract" not in sys.modules:
        sys.modules["tldextract"] = _OnFirstUse("tldextract")
    if "boilerpy3" not in sys.modules:
        package = sys.modules["boilerpy3"] = _OnFirstUse("boilerpy3")
        package.__path__ = []  # a package: ``from boilerpy3 import extractors`` reads it
        package.extractors = _OnFirstUse("boilerpy3.extractors")  # type: ignore[attr-defined]
    if "pyamf" not in sys.modules and "pkg_resources" not in sys.modules:
        sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # import fails
        try:
            import pyamf  # noqa: F401
        finally:
            del sys.modules["pkg_resources"]


def main() -> NoReturn:
    quiet_py_wacz()
    skip_unused_imports()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    code = record(pipe_source(sys.stdin.fileno()), sys.stdout)
    # The result is out and every file is closed: the interpreter's teardown (30-45 ms of
    # freeing the index's and py-wacz's objects, the crawl waiting on it) has nothing to do.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
