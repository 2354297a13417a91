"""Command-line arguments sphinx-gallery gives each example it runs.

The examples take ``--quick`` (a run of seconds) and ``--out`` (the figure's path). The
documentation build runs them quick by default and writes their figure files to a
temporary folder (sphinx-gallery shows the figures it finds open in matplotlib, so the
files themselves are not needed and must not land in ``examples/``). Set
``MEMCIRCUITS_DOCS_EXAMPLES=full`` for the full-size runs (minutes each) and
``MEMCIRCUITS_DOCS_EXAMPLES=off`` to render the code and text without running anything.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

MODES = ("quick", "full", "off")


def mode() -> str:
    """The example mode chosen by ``MEMCIRCUITS_DOCS_EXAMPLES`` (default ``quick``)."""
    value = os.environ.get("MEMCIRCUITS_DOCS_EXAMPLES", "quick").strip().lower() or "quick"
    if value not in MODES:
        raise ValueError(f"MEMCIRCUITS_DOCS_EXAMPLES={value!r}: expected one of {MODES}")
    return value


_FIGURES = Path(tempfile.mkdtemp(prefix="memcircuits-docs-figures-"))


def example_argv(gallery_conf: dict[str, Any], script_vars: dict[str, Any]) -> list[str]:
    """``sys.argv[1:]`` for one example: ``--quick`` unless full, and a temporary ``--out``."""
    name = Path(script_vars["src_file"]).stem
    argv = ["--out", str(_FIGURES / f"{name}.png")]
    return argv if mode() == "full" else ["--quick", *argv]
