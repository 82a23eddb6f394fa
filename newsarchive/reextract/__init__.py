"""``scrapy reextract``: today's extraction over stored captures, with no network.

``captures`` finds a run's WARC files (both layouts) and reads its article responses with
warcio; ``shares`` runs the extraction in a process pool, one share of the captures per task;
``spider`` hands the items to the crawl's own pipelines and feeds, and journals them so a
killed run is resumable. ``judgement`` applies the same rule during a crawl: a changed text
last read by another extractor is judged ``edit``, ``reextract`` or ``unverified`` against
the previous text's capture.
"""
