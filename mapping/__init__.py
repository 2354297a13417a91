"""Run one input through the spiking circuits and the abstract models and compare them.

Also the experiment protocols and the ``memcircuits`` command line.
"""

import logging as _logging


class _DropBrianCacheNotice(_logging.Filter):
    """Drop Brian2's notice that its code cache is large (Brian2 >= 2.10 logs it at import).

    It is printed to stderr whenever the cache passes ``codegen.max_cache_dir_size`` (1 GB),
    before any preference of ours can act, and would stand before the one-line errors of
    ``memcircuits``; ``brian2.clear_cache("cython")`` empties the cache.
    """

    def filter(self, record: _logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Cache size for target")


# on the loggers Brian2 logs it to ("brian2.brian2": its package logger, named after the
# module), set before Brian2 is imported (Brian2 keeps a logger's filters)
for _name in ("brian2", "brian2.brian2"):
    _logging.getLogger(_name).addFilter(_DropBrianCacheNotice())
