"""The spiders. Article requests outrank listing pages, so the queue holds about one page of
cards at a time and memory stays flat however long the stream is."""

ARTICLE_PRIORITY = 10
LISTING_PRIORITY = 0
#: ``request.meta`` key: when the capture recorded the response (ISO 8601, seconds). The
#: item's ``crawled_at`` takes it, so ``scrapy reextract`` (which reads the WARC-Date) gives
#: the same ``crawled_at`` and re-reading a capture is never a new sighting.
FETCHED_AT_META = "newsarchive_fetched_at"
