"""What each setting means, and whether a command line names real settings of the right type.

The settings are the dataclasses in fastrlap.config, and each field's meaning is the comment on
its line (or, when the line has none, the comment block just above it). `--help` reads those
comments from the source instead of keeping a second copy of every meaning that would drift from
the first. Overrides are checked here against the same dataclasses before Hydra sees them, so a
typo gets the nearest real key and a wrong value names the type it needs, in one line.
"""

from __future__ import annotations

import difflib
import inspect
import io
import math
import textwrap
import tokenize
import typing
from dataclasses import dataclass, fields, is_dataclass
from functools import cache
from types import NoneType, UnionType

from fastrlap.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    """One leaf of the configuration: its dotted key, Python type, current value and meaning."""

    key: str
    type: object
    value: object
    doc: str


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Field name -> the comment that explains it in `cls`'s source ({} when there is no source)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    names = {f.name for f in fields(cls)}
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    docs: dict[str, str] = {}
    above: list[str] = []  # comment lines since the last blank line or field
    current = None  # the field whose logical line is being read
    depth = 0
    start_of_line = True
    for i, tok in enumerate(tokens):
        kind = tok.type
        if kind == tokenize.INDENT:
            depth += 1
        elif kind == tokenize.DEDENT:
            depth -= 1
        elif kind == tokenize.COMMENT:
            text = tok.string.lstrip("#").strip()
            if current is not None:
                docs.setdefault(current, text)
            elif depth == 1:
                above.append(text)
        elif kind == tokenize.NL:
            if i == 0 or tokens[i - 1].type != tokenize.COMMENT:
                above.clear()  # a blank line ends the comment block
        elif kind == tokenize.NEWLINE:
            if current is not None and current not in docs and above:
                docs[current] = " ".join(above)
            if current is not None:
                above.clear()
            current = None
            start_of_line = True
            continue
        elif (
            kind == tokenize.NAME
            and start_of_line
            and depth == 1
            and tok.string in names
            and tokens[i + 1].string == ":"
        ):
            current = tok.string
        if kind not in (tokenize.INDENT, tokenize.DEDENT, tokenize.NL, tokenize.COMMENT):
            start_of_line = False
    return docs


@cache
def _fields_of(cls: type) -> dict[str, object]:
    """Field name -> resolved type annotation (config.py writes them as strings)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def leaves(obj, prefix: str = "") -> list[Setting]:
    """Every leaf setting under the dataclass instance `obj`, depth first, in declaration order."""
    out: list[Setting] = []
    docs = field_docs(type(obj))
    for name, hint in _fields_of(type(obj)).items():
        key = f"{prefix}{name}"
        value = getattr(obj, name)
        if is_dataclass(hint):
            out += leaves(value, key + ".")
        else:
            out.append(Setting(key, hint, value, docs.get(name, "")))
    return out


_NAMES = {int: "whole number", float: "number", bool: "true/false value", str: "string"}


def type_name(hint) -> str:
    """`float` -> "number", `list[str]` -> "list like [a,b] of strings", `str | None` -> "string or null"."""
    origin = typing.get_origin(hint)
    if origin in (UnionType, typing.Union):
        return " or ".join("null" if a is NoneType else type_name(a) for a in typing.get_args(hint))
    if origin is list:
        return f"list like [a,b] of {type_name(typing.get_args(hint)[0])}s"
    return _NAMES.get(hint, getattr(hint, "__name__", str(hint)))


def show(value) -> str:
    """A value as it is written on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(show(v) for v in value) + "]"
    if isinstance(value, str):
        return value if value else "''"
    return repr(value)


def settings_table(config, prefixes: tuple[str, ...] = ()) -> str:
    """The settings under `prefixes` (all when empty): key, value, meaning — one line each."""
    rows = [s for s in leaves(config) if not prefixes or any(s.key == p or s.key.startswith(p + ".") for p in prefixes)]
    key_w = max(len(s.key) for s in rows)
    value_w = min(24, max(len(show(s.value)) for s in rows))
    return "\n".join(f"  {s.key:<{key_w}}  {show(s.value):<{value_w}}  {s.doc}".rstrip() for s in rows)


def split_options(args: list[str]) -> tuple[set[str], list[str]]:
    """`--help`/`-h`, `--cfg` and `-m`/`--multirun` apart from the `key=value` overrides; any other
    `-x` is refused in one line (Hydra would otherwise fail on it with a lexer error)."""
    options: set[str] = set()
    overrides: list[str] = []
    for arg in args:
        if arg in ("-h", "--help"):
            options.add("help")
        elif arg in ("--cfg", "--cfg=job"):
            options.add("cfg")
        elif arg in ("-m", "--multirun"):
            options.add("multirun")
        elif arg.startswith("-"):
            raise ConfigError(f"unknown option {arg!r}: the options are --help, --cfg and -m; settings are key=value")
        else:
            overrides.append(arg)
    return options, overrides


def _sections(cls: type, prefix: str = "") -> dict[str, type]:
    """Dotted key -> dataclass type for every group of settings (`practice`, `practice.safety`...)."""
    out: dict[str, type] = {}
    for name, hint in _fields_of(cls).items():
        if is_dataclass(hint):
            out[prefix + name] = hint
            out.update(_sections(hint, f"{prefix}{name}."))
    return out


def _leaf_types(cls: type, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for name, hint in _fields_of(cls).items():
        if is_dataclass(hint):
            out.update(_leaf_types(hint, f"{prefix}{name}."))
        else:
            out[prefix + name] = hint
    return out


def _fits(hint, value) -> bool:
    """Whether a value Hydra parsed from the command line can fill a field of type `hint`."""
    origin = typing.get_origin(hint)
    if origin in (UnionType, typing.Union):
        return any(_fits(a, value) for a in typing.get_args(hint))
    if hint is NoneType:
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_fits(typing.get_args(hint)[0], v) for v in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return value is not None and not isinstance(value, (list, dict))
    return True


def _nearest(key: str, known: list[str]) -> str:
    """' (did you mean x?)' for the closest known key, matching the last word too, or ''."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if not close:
        last = key.rsplit(".", 1)[-1]
        by_last = {k.rsplit(".", 1)[-1]: k for k in known}
        close = [by_last[m] for m in difflib.get_close_matches(last, list(by_last), n=1, cutoff=0.75)]
    return f" (did you mean {close[0]}?)" if close else ""


def check_overrides(overrides: list[str], schema: type, groups: dict[str, list[str]], sweeps: bool = False) -> None:
    """Refuse, in one line, an override that names no setting of `schema`, adds (`+`) or deletes
    (`~`) a key, sweeps several values (unless `sweeps`: then each value is checked), or gives a
    value of the wrong type. `groups` maps a config group (`vehicle`) to its options (`sim`, `hil`, `real`)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    types, sections = _leaf_types(schema), _sections(schema)
    known = sorted(types)
    for text in overrides:
        try:
            override = parser.parse_override(text)
        except HydraException as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(f"bad override {text!r}: not key=value ({first})") from None
        key = override.key_or_group
        if override.type is OverrideType.DEL:
            raise ConfigError(
                f"bad override {text}: settings cannot be deleted; set {key}=VALUE instead (`--help` shows the default)"
            )
        if override.type is not OverrideType.CHANGE:
            if key in types or key in groups:
                hint = f"drop the '+': {text.lstrip('+')}"
            else:
                hint = f"no setting is called {key}{_nearest(key, known)}"
            raise ConfigError(f"bad override {text}: '+' adds a key that nothing reads; {hint}")
        if override.is_sweep_override():
            if not sweeps:
                raise ConfigError(
                    f"bad override {text}: one value per setting; sweeps over several values run "
                    f"with -m (fastrlap practice -m {text})"
                )
            try:
                values = list(override.sweep_string_iterator())
            except HydraException:  # interval() and glob() have no list of values to run
                raise ConfigError(f"bad override {text}: sweep a list of values (a,b,c) or range(start,stop)") from None
            check_overrides([f"{key}={v}" for v in values], schema, groups)
            continue
        value = override.value()
        if key in groups:
            if value not in groups[key]:
                raise ConfigError(f"bad override {text}: no such {key}; choose one of {', '.join(groups[key])}")
            continue
        if key in sections:
            raise ConfigError(
                f"bad override {text}: {key} is a group of settings; set one of its keys, e.g. "
                f"{next(k for k in types if k.startswith(key + '.'))}=..."
            )
        if key not in types:
            raise ConfigError(
                f"bad override {text}: no setting is called {key}{_nearest(key, known)}; `--help` lists the settings"
            )
        if not _fits(types[key], value):
            raise ConfigError(f"bad override {text}: {key} takes a {type_name(types[key])}, not {show(value)}")


def check_finite(config) -> None:
    """NaN or infinity in any number setting is refused (every limit below would let NaN through)."""
    for s in leaves(config):
        if isinstance(s.value, float) and not math.isfinite(s.value):
            raise ConfigError(f"{s.key}={show(s.value)}: use a finite number")
