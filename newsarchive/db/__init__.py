"""The PostgreSQL archive: schema migrations, the store (all SQL), URL masking, spill files.

Everything that talks SQL lives in ``newsarchive.db.store`` so the incremental crawl and the
exports reuse one vetted set of queries; see docs/POSTGRES.md.
"""
