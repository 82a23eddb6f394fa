"""Downloader middlewares: retries with backoff, and redirects that must not leave the host."""
