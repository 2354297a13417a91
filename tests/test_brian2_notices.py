"""Brian2's import-time notice of a large code cache stays out of memcircuits' stderr."""

from __future__ import annotations

import logging

import mapping  # noqa: F401  (installs the filter)


def _record(name: str, msg: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, None, None)


def test_the_cache_size_notice_is_dropped_and_nothing_else():
    """Brian2 >= 2.10 logs it on "brian2.brian2" at import once its cache passes 1 GB; it
    stood before the one-line errors (three CLI tests failed on a machine with 1.03 GB)."""
    for name in ("brian2", "brian2.brian2"):
        logger = logging.getLogger(name)
        assert not logger.filter(_record(name, "Cache size for target 'cython': 1032 MB.\n"
                                               "You can call clear_cache('cython') ..."))
        assert logger.filter(_record(name, "brian version is: 2.10.1"))
