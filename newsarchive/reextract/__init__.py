"""``scrapy reextract``: today's extraction over stored captures, with no network.

``captures`` finds a run's WARC files (both layouts) and reads its article responses with
warcio; ``shares`` runs the extraction in a process pool, one share of the captures per task;
``spider`` hands the items to the crawl's own pipelines and feeds; ``journal`` makes a killed
run resumable.
"""
