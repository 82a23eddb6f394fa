"""What keeps a long crawl's memory flat: the state file streamed, Twisted's timers purged."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import tracemalloc

import pytest

from newsarchive.extensions.memory import _malloc_trim
from newsarchive.extraction_pool import ArticleExtractor
from newsarchive.incremental import RunChanges
from newsarchive.incremental.state import update_state_file
from newsarchive.items import ArticleItem
from newsarchive.processors import article_url_parts
from newsarchive.spiders.base import SeenIds
from tests.conftest import SPECIMEN_URL
from tests.test_callbacks import make_spider, page

ARTICLES = 20_000


def test_the_end_of_run_state_write_never_holds_the_file_in_memory(tmp_path):
    """A first run of 20,000 articles: writing the state file costs far less memory than
    the file's size (the whole document as dicts and one JSON text cost several times it)."""
    path = tmp_path / "state" / "s.json"
    changes = RunChanges(keep_articles=True)
    for n in range(ARTICLES):
        url = f"https://kcnawatch.org/newstream/{1700000000 + n}-{n}/a-title-of-some-length-{n}/"
        changes.archive(f"{1700000000 + n}-{n}", "Naenara (En)", url, "2025-01-02")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        update_state_file(path, lambda state: None, changes, spider="naenara")
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    size = path.stat().st_size
    assert size > 2_000_000
    assert peak < size / 4, f"writing a {size} B state file took {peak} B"
    assert path.read_text(encoding="utf-8").count('"url"') == ARTICLES


#: Arms and cancels timers as downloads do, started by asyncio's loop as Scrapy's are, runs
#: the reactor a moment, then prints how many timers Twisted still holds and queues.
TIMERS = textwrap.dedent(
    """
    import sys
    from twisted.internet import asyncioreactor
    asyncioreactor.install()
    from twisted.internet import reactor
    import newsarchive.extensions.memory as memory
    memory.UPKEEP_SECONDS = 0.05
    upkeep = memory.MemoryUpkeep()
    if sys.argv[1] == "on":
        upkeep.engine_started()
    def download():
        reactor.callLater(180, print).cancel()
    loop = reactor._asyncioEventloop
    for n in range(2000):
        loop.call_later(n / 10000, download)
    def done():
        upkeep.engine_stopped()
        print(len(reactor.getDelayedCalls()), len(reactor._pendingTimedCalls))
        reactor.stop()
    loop.call_later(0.5, done)
    reactor.run()
    """
)


@pytest.mark.parametrize(("upkeep", "most"), [("on", 100), ("off", None)])
def test_cancelled_download_timeouts_do_not_pile_up(upkeep, most):
    """Without the upkeep tick no Twisted timer fires in a crawl shorter than the download
    timeout, and every cancelled one stays queued; with it they are purged as they come."""
    run = subprocess.run(
        [sys.executable, "-c", TIMERS, upkeep], capture_output=True, text=True, check=True
    )
    live, queued = map(int, run.stdout.split())
    assert live == 0
    if most is None:
        assert queued >= 2000  # what the upkeep is for
    else:
        assert queued < most


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_the_c_heap_is_trimmed_on_linux():
    trim = _malloc_trim()
    assert trim is not None
    assert trim(0) in (0, 1)


def test_the_run_s_seen_ids_take_less_memory_than_a_set_and_act_as_one():
    ids = [f"{1700000000 + n}-{n}" for n in range(ARTICLES)]
    seen = SeenIds()
    for article_id in ids:
        seen.add(article_id)
    assert all(article_id in seen for article_id in ids) and "0-0" not in seen
    assert sys.getsizeof(seen) < sys.getsizeof(set(ids)) / 2


def test_an_id_extracted_in_a_worker_is_the_interned_one(tmp_path):
    """The worker's answer is unpickled: its article_id is a new string unless interned."""
    spider = make_spider(tmp_path, start_url=SPECIMEN_URL)
    listed = article_url_parts(SPECIMEN_URL)[0]  # interned, as the listing's links are

    async def in_a_worker() -> list:
        spider.extractor = ArticleExtractor(1)
        try:
            async with asyncio.timeout(60):
                assert await spider.extractor.wait_until_ready()
            return [r async for r in spider.parse_article_in_worker(page("specimen_article.html"))]
        finally:
            spider.extractor.close()

    (item,) = [r for r in asyncio.run(in_a_worker()) if isinstance(r, ArticleItem)]
    assert spider.extractor.in_workers == 1
    assert item["article_id"] == listed and item["article_id"] is listed
