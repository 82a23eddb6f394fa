"""Offline replica of kcnawatch.org for the demo, the tests and the benchmark.

``model`` holds the data (deterministic from a seed), ``render`` the specimen-shaped HTML,
``server`` the HTTP server with faults and admin mutators, ``expected`` the oracle built from
the model, ``export`` the static copy for nginx, ``cli`` the ``newsarchive-replica`` command.
"""

from newsarchive_replica.expected import expected_items
from newsarchive_replica.server import ReplicaServer

__all__ = ["ReplicaServer", "expected_items"]
