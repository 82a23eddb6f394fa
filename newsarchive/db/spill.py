"""Spill files: what the pipeline could not write to PostgreSQL, kept for a later replay.

Why JSON Lines of the raw items (not SQL): a replay goes through the same
``ArchiveStore.write_batch`` upserts as a live crawl, so it is idempotent, keeps the times the
crawler saw things, and works against any later schema version.

One file per run: ``<data>/spill/<spider>-<run_id>.jsonl``, lines of
``{"kind": "run", "run": {...}}`` (the run's start, and its end when that could not be
written), ``{"kind": "article", "run_id": ..., "item": {...}}`` and
``{"kind": "gone", "run_id": ..., "item": {...}}``. ``scrapy dbloadspill FILE…`` loads them.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from newsarchive import stats as names
from newsarchive.db.errors import ArchiveUnavailable, error_line
from newsarchive.db.records import BatchResult, RunRecord

if TYPE_CHECKING:
    from newsarchive.db.store import ArchiveStore

logger = logging.getLogger(__name__)

LOADED_SUFFIX = ".loaded"


def spill_path(folder: Path, spider: str, run_id: str) -> Path:
    return folder / f"{spider}-{run_id}.jsonl"


def dumps_record(record: Mapping[str, Any]) -> str:
    """One JSON line: UTF-8 text kept readable, dates as ISO strings."""
    return json.dumps(record, ensure_ascii=False, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def append_records(path: Path, records: list[Mapping[str, Any]]) -> None:
    """Append records and flush them to disk (blocking: call it in a thread).

    Under an exclusive lock, and only to the file still at ``path``: a loader holds the lock
    while it reads a file and renames it ``*.loaded``, so a line is either read by it or
    written to a fresh file at ``path``, never appended to a file already loaded.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(dumps_record(record) for record in records)
    while True:
        with path.open("a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                continue  # renamed away while we waited: write to a new file
            if current != os.fstat(handle.fileno()).st_ino:
                continue
            handle.write(text)
            handle.flush()
            return


def article_record(item: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    return {"kind": "article", "run_id": run_id, "item": dict(item)}


def gone_record(item: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    return {"kind": "gone", "run_id": run_id, "item": dict(item)}


def run_record(run: RunRecord) -> dict[str, Any]:
    return {"kind": "run", "run": run.to_json()}


class RunSpill:
    """One run's spill file, as the writer fills it: entries it could not write, appended in
    order under one lock (writers spill at once; their lines must not interleave), the run's
    start first, so a replay into a database that never saw the run is complete."""

    def __init__(self, folder: Path, run: RunRecord, count: Callable[[str, int], object]) -> None:
        self.path = spill_path(folder, run.spider, run.run_id)
        self.count = count
        #: The file once something was spilled to it (None: nothing was).
        self.file: Path | None = None
        self.spilled = 0  # entries (articles and 404/410s) in the file
        self.lock = asyncio.Lock()

    async def add(self, entries: Sequence[tuple[str, Mapping[str, Any]]], run: RunRecord) -> None:
        """Append ``("article" | "gone", item)`` entries of ``run`` (a blocking write, in a
        thread)."""
        records: list[Mapping[str, Any]] = []
        if self.file is None:
            self.file = self.path
            records.append(run_record(replace(run, finished_at=None, finish_reason=None)))
        for kind, item in entries:
            record = article_record if kind == "article" else gone_record
            records.append(record(item, run.run_id))
        async with self.lock:
            await asyncio.to_thread(append_records, self.path, records)
        self.spilled += len(entries)
        self.count(names.DB_SPILLED, len(entries))

    async def add_run_end(self, run: RunRecord) -> None:
        """The run's end, when the server could not take it."""
        if self.file is None:
            await self.add([], run)
        async with self.lock:
            await asyncio.to_thread(append_records, self.path, [run_record(run)])
        logger.warning("The end of run %s was spilled to %s", run.run_id, self.path)


async def mention_waiting(folder: Path) -> None:
    """Say (a WARNING) which spill files of earlier runs wait in ``folder`` to be loaded."""
    waiting = await asyncio.to_thread(
        lambda: sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    )
    if waiting:
        logger.warning(
            "%d spill file(s) from earlier runs wait in %s: load them with `scrapy dbloadspill %s`",
            len(waiting),
            folder,
            " ".join(str(p) for p in waiting[:3]) + (" …" if len(waiting) > 3 else ""),
        )


def read_records(handle: TextIO) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """``(line number, record)``; ``None`` for a line that is not a record (e.g. the torn last
    line of a file whose writer was killed)."""
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            yield number, None
            continue
        yield number, record if isinstance(record, dict) else None


@dataclass
class LoadReport:
    """What loading spill files did, for the command's summary line."""

    files: int = 0
    runs: int = 0
    articles: int = 0
    gone: int = 0
    unreadable_lines: int = 0
    result: BatchResult = field(default_factory=BatchResult)


def _chunks(handle: TextIO, size: int) -> Iterator[list[tuple[int, dict[str, Any] | None]]]:
    chunk: list[tuple[int, dict[str, Any] | None]] = []
    for entry in read_records(handle):
        chunk.append(entry)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _parse(record: dict[str, Any] | None) -> tuple[str, str, dict[str, Any]] | None:
    """``(kind, run_id, payload)`` of a well-formed record, else None."""
    if record is None:
        return None
    kind = record.get("kind")
    payload = record.get("run") if kind == "run" else record.get("item")
    if kind not in ("run", "article", "gone") or not isinstance(payload, dict):
        return None
    return kind, str(record.get("run_id") or "spill"), payload


def _open_locked(path: Path) -> TextIO:
    handle = path.open(encoding="utf-8")
    fcntl.flock(handle, fcntl.LOCK_EX)  # a crawl still spilling to it waits
    return handle


async def load_file(
    store: ArchiveStore,
    path: Path,
    batch_size: int = 500,
    report: LoadReport | None = None,
    rename_when_clean: bool = False,
) -> LoadReport:
    """Replay one spill file through the store (idempotent: loading twice changes nothing).

    Reading happens in a thread, a chunk of ``batch_size`` lines at a time, so memory stays
    flat for large files and the event loop is never blocked on the disk. The file is locked
    meanwhile; with ``rename_when_clean`` it becomes ``*.loaded`` (before the lock is released)
    if every line was a record and no item was rejected.
    """
    report = report or LoadReport()
    problems_before = len(report.result.rejected) + report.unreadable_lines
    handle = await asyncio.to_thread(_open_locked, path)
    try:
        await _load_chunks(store, path, _chunks(handle, batch_size), report)
        clean = len(report.result.rejected) + report.unreadable_lines == problems_before
        if rename_when_clean and clean:
            await asyncio.to_thread(path.rename, path.with_name(path.name + LOADED_SUFFIX))
    finally:
        await asyncio.to_thread(handle.close)
    report.files += 1
    return report


async def _load_chunks(
    store: ArchiveStore,
    path: Path,
    chunks: Iterator[list[tuple[int, dict[str, Any] | None]]],
    report: LoadReport,
) -> None:
    while True:
        chunk = await asyncio.to_thread(next, chunks, None)
        if chunk is None:
            break
        articles: dict[str, list[Mapping[str, Any]]] = {}
        gones: dict[str, list[Mapping[str, Any]]] = {}
        for number, record in chunk:
            parsed = _parse(record)
            if parsed is None:
                report.unreadable_lines += 1
                logger.warning("%s:%d is not a spill record; skipped", path, number)
                continue
            kind, run_id, payload = parsed
            if kind == "run":
                try:
                    run = RunRecord.from_json(payload)
                except (TypeError, ValueError):
                    report.unreadable_lines += 1
                    logger.warning("%s:%d is not a complete run record; skipped", path, number)
                    continue
                await (store.finish_run(run) if run.finished_at else store.start_run(run))
                report.runs += 1
            else:
                target = articles if kind == "article" else gones
                target.setdefault(run_id, []).append(payload)
        for run_id in sorted(set(articles) | set(gones)):
            batch_articles = articles.get(run_id, [])
            batch_gones = gones.get(run_id, [])
            report.result.add(await store.write_batch(batch_articles, batch_gones, run_id))
            report.articles += len(batch_articles)
            report.gone += len(batch_gones)


async def load_files(
    url: str, paths: list[Path], batch_size: int, keep: bool = False
) -> LoadReport:
    """Load every file into the archive at ``url``; a file is renamed ``*.loaded`` once all
    of it is in the database (unless ``keep``). Raises ArchiveUnavailable (one line)."""
    from newsarchive.db.store import CONNECTION_ERRORS, ArchiveStore

    report = LoadReport()
    async with await ArchiveStore.open(url, max_size=1) as store:
        try:
            for path in paths:
                await load_file(store, path, batch_size, report, rename_when_clean=not keep)
        except CONNECTION_ERRORS as exc:
            raise ArchiveUnavailable(error_line("lost PostgreSQL", url, exc)) from None
    return report


def spill_files(arguments: list[str]) -> list[Path]:
    """Files named, and the ``*.jsonl`` files of folders named, in order."""
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument).expanduser()
        if path.is_dir():
            found.extend(sorted(path.glob("*.jsonl")))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such spill file or folder: {path}")
    return found
