"""Frozen parameter dataclasses from TOML files and ``key=value`` overrides.

Every model, circuit and experiment keeps its parameters in one frozen dataclass whose
fields cite the paper symbol, unit and source, and whose ``validate()`` raises a clear error
naming the field. This module turns user input into such a dataclass:

- :func:`from_dict` builds one from a (nested) mapping and rejects unknown keys;
- :func:`load_config` reads a TOML file and applies ``--set key=value`` overrides;
- :func:`to_dict` gives the resolved configuration back as plain data for ``config.json``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "ConfigError",
    "from_dict",
    "load_config",
    "parse_override",
    "register_type",
    "to_dict",
]

T = TypeVar("T")

#: extra field types: type -> (parse(where, value, default) -> value, dump(value) -> plain)
_TYPES: dict[type, tuple[Callable[[str, Any, Any], Any], Callable[[Any], Any]]] = {}


def register_type(type_: type, parse: Callable[[str, Any, Any], Any],
                  dump: Callable[[Any], Any]) -> None:
    """Teach the loader a field type it does not know (e.g. Brian2 quantities).

    Parameters
    ----------
    type_
        The annotation to handle.
    parse
        ``parse(where, value, default)`` converts user input (TOML value or string) for the
        field at path ``where`` whose default is ``default``; raises :class:`ConfigError`.
    dump
        Converts a value back to plain data for ``config.json`` (and for reloading).
    """
    _TYPES[type_] = (parse, dump)


class ConfigError(ValueError):
    """A configuration value or file a user supplied is wrong; the message says which."""


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(where: str, value: Any, annotation: Any, default: Any = None) -> Any:
    """Convert ``value`` to ``annotation`` (scalars, tuples, optionals, dataclasses)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation in _TYPES:
        return _TYPES[annotation][0](where, value, default)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or (
                isinstance(value, str) and value.strip().lower() == "none")):
            return None  # TOML has no null: ``none`` (as in ``--set x=none``) unsets a field
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(where, value, option, default)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: cannot be {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: must be one of {', '.join(map(repr, args))}, "
                              f"got {value!r}")
        return value
    if origin in (tuple, Sequence, list):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(f"{where}[{i}]", v, a) for i, (v, a) in enumerate(
                zip(value, args, strict=True)))
        item = args[0] if args else Any
        return tuple(_coerce(f"{where}[{i}]", v, item) for i, v in enumerate(value))
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table of fields, got {value!r}")
        # keys the table leaves out keep the values of the default it overrides (an
        # experiment's own circuit, say), not the defaults of the dataclass itself
        return from_dict(annotation, value, where=where,
                         base=default if isinstance(default, annotation) else None)
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range
            number = math.inf
        if not math.isfinite(number):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return number
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], *, where: str = "",
              base: T | None = None) -> T:
    """Build the dataclass ``cls`` from ``data``, rejecting unknown keys.

    Nested dataclass fields accept nested tables. Missing keys take their value in ``base``
    when given, else the field default; a nested table overrides only the keys it names of
    the value it replaces. A dataclass with a ``with_preset(name)`` method takes a ``preset``
    key first: the preset's values, then the table's other keys. The result's
    ``validate()`` (when defined) is called before it is returned.

    Raises
    ------
    ConfigError
        For an unknown key (with the known ones listed) or a value of the wrong type.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = _field_types(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"unknown configuration key '{prefix}{unknown[0]}'; "
                          f"known keys: {', '.join(sorted(fields))}")
    preset = getattr(cls, "with_preset", None)
    if "preset" in data and callable(preset):
        # a dataclass with presets (a circuit's biology): the named preset first, then the
        # other keys of the table on top of it
        try:
            base = (base if base is not None else cls()).with_preset(data["preset"])
        except ValueError as exc:
            raise ConfigError(f"{where + '.' if where else ''}{exc}") from exc
    kwargs = {} if base is None else {name: getattr(base, name) for name in fields}
    for name, value in data.items():
        path = f"{where}.{name}" if where else name
        reference = getattr(base, name) if base is not None else None
        if reference is None:  # no base, or an unset optional field: the field's own
            reference = _reference(fields[name])
        kwargs[name] = _coerce(path, value, hints[name], reference)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ConfigError:
            raise
        except ValueError as exc:
            raise ConfigError(f"{where + ': ' if where else ''}{exc}") from exc
    return obj


#: field metadata key: a value whose kind (e.g. a quantity's dimensions) an optional field's
#: values must share, where the default (None) cannot say it
LIKE = "like"


def _reference(field: dataclasses.Field) -> Any:
    """What a value of ``field`` is checked against: its default, or ``metadata["like"]``."""
    default = _default(field)
    return field.metadata.get(LIKE, default) if default is None else default


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def to_dict(obj: Any) -> Any:
    """Plain data (dicts, lists, numbers, strings) for a dataclass, for ``config.json``."""
    for type_, (_parse, dump) in _TYPES.items():
        if isinstance(obj, type_):
            return dump(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b=value`` into (``["a", "b"]``, value), reading the value as TOML.

    ``x=3`` gives an int, ``x=0.5`` a float, ``x=true`` a bool, ``x=[1, 2]`` a list, and
    anything that is not valid TOML (``x=cython``) a string.
    """
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.split("."), value


def load_config(cls: type[T], path: str | Path | None = None,
                overrides: Sequence[str] = ()) -> T:
    """Resolve a configuration: defaults, then the TOML file, then ``--set`` overrides.

    Parameters
    ----------
    cls
        The frozen parameter dataclass.
    path
        Optional TOML file whose keys mirror the dataclass fields (tables for nested ones).
    overrides
        ``key=value`` strings; dotted keys reach nested fields.

    Raises
    ------
    ConfigError
        Missing or unreadable file, TOML syntax error, unknown key, wrong type, or a value
        that fails ``validate()``.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"config file {path} is a directory, not a TOML file")
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: not UTF-8 text "
                              f"(byte {exc.start})") from exc
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text!r}: {key!r} is not a table")
        node[keys[-1]] = value
    return from_dict(cls, data)
