"""The PostgreSQL archive; see docs/POSTGRES.md.

``rows`` decides what the archive accepts (pure), ``statements`` holds every SQL statement,
``store`` runs them in transactions, ``writer`` batches a crawl's items (retry, spill),
``run_database`` owns one pool per crawl, ``spill`` keeps and replays what could not be
written, ``migrate`` applies the schema, ``errors`` words failures in one line.
"""
