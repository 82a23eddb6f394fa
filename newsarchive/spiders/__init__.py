"""The spiders. Article requests outrank listing pages, so the queue holds about one page of
cards at a time and memory stays flat however long the stream is."""

ARTICLE_PRIORITY = 10
LISTING_PRIORITY = 0
