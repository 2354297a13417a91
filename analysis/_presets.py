"""One lookup for the indicator presets (calcium, voltage, synaptic)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def lookup_preset(name: Any, presets: Mapping[str, T], kind: type, what: str) -> T:
    """``name`` itself if it is a ``kind`` (validated), else the preset called ``name``.

    Names match case-insensitively; anything else is one ``ValueError`` naming ``what`` and
    listing the presets.
    """
    if isinstance(name, kind):
        name.validate()
        return name
    if isinstance(name, str):
        for key, value in presets.items():
            if key.lower() == name.lower():
                return value
    raise ValueError(f"indicator: unknown {what} {name!r}; known: {', '.join(presets)}")
