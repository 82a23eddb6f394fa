"""The run monitor on Spidermon: its suite, the item schema, alerts and the changes digest.

The checks themselves stay pure functions over a stats dict (``newsarchive.monitor`` and
``newsarchive.monitors.schema``); Spidermon runs them at spider close as one monitor per
check (``suite``), and its actions carry a failed run's alert and the run's changes digest
to a person by email and webhook (``actions``, ``delivery``, ``messages``, ``digest``).
"""
