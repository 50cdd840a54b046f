"""Reading a tenant in the Auth0 Deploy CLI's formats: a YAML or JSON file, or the directory format.

The formats are the Deploy CLI's (github.com/auth0/auth0-deploy-cli, ``docs/available-resource-config-formats.md``):

- a single ``tenant.yaml`` (or ``.json``): top-level sections ``clients``, ``databases`` (database connections),
  ``connections`` (the other strategies), ``clientGrants``, ``resourceServers``, ...; plus our own ``users``;
- a directory: ``clients/*.json``, ``database-connections/<name>/database.json``, ``connections/*.json``,
  ``grants/*.json``, one resource per file, and (ours) ``users/<connection name>.json`` in Auth0's bulk-import
  format; other entries are sections we do not model.

Keywords are replaced in the text before it is parsed, as the Deploy CLI does (``src/tools/utils.ts``
``keywordReplace``, documented in ``docs/keyword-replacement.md``): ``@@KEY@@`` (with the quotes around it, if any)
becomes the JSON text of the value, then ``##KEY##`` the value as it is. A key is made of characters other than
white space and the marker's own (``#`` or ``@``).

What a hostile or broken file cannot do: be larger than ``MAX_TENANT_BYTES`` (before or after replacement); be
anything but UTF-8; use YAML tags beyond the safe ones (PyYAML's safe loader); grow by aliases beyond its own size
(a "billion laughs" bomb) or refer to itself; nest deeper than ``MAX_DEPTH``; hold values JSON cannot (dates,
binary, sets, non-string keys, NaN) or text the databases cannot store (NUL, lone surrogates). Each is a
``TenantFileError`` with one line that names the place and never quotes the file (it may hold secrets).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.utils.translation import gettext as _

from core.errors import DomainError, ErrorCode
from core.schema import text_fault

# Far above any tenant export (the Deploy CLI's example is 10 kB; a tenant with hundreds of clients stays under
# 1 MB), far below what parsing in memory makes slow. Users in bulk belong in an import file, which is streamed.
MAX_TENANT_BYTES = 10 * 1024 * 1024
# Auth0's objects nest a few levels (options.validation.username.min is four); metadata of users a few more.
MAX_DEPTH = 32

_ARRAY_MARKER = re.compile(r"""(['"]?)@@([^@\s]+)@@\1""")
_STRING_MARKER = re.compile(r"##([^#\s]+)##")


class TenantFileError(DomainError):
    """The tenant file (or a file it names) cannot be used; ``where`` says which part, the message why."""

    code = ErrorCode.INVALID_BODY

    def __init__(self, where: str, message: str) -> None:
        where = where.rstrip(":")  # a directory item's place is its file, "clients/ops.json:"
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


@dataclass
class Document:
    """A tenant read from disk: its sections, where relative paths start, and what to call each part in errors."""

    sections: dict[str, Any]
    base_dir: Path
    # Section name -> the file each item came from, in the directory format (errors name the file).
    origins: dict[str, list[str]] = field(default_factory=dict)


def replace_keywords(text: str, mappings: Mapping[str, Any]) -> str:
    """The Deploy CLI's keyword replacement: every ``@@KEY@@`` first, then every ``##KEY##``; unknown keys stay."""

    def as_json(match: re.Match[str]) -> str:
        key = match.group(2)
        # JSON.stringify, which the Deploy CLI uses, leaves non-ASCII characters as they are.
        return json.dumps(mappings[key], ensure_ascii=False) if key in mappings else match.group(0)

    def as_text(match: re.Match[str]) -> str:
        key = match.group(1)
        return _js_string(mappings[key]) if key in mappings else match.group(0)

    return _STRING_MARKER.sub(as_text, _ARRAY_MARKER.sub(as_json, text))


def _js_string(value: Any) -> str:
    """JavaScript's ``String(value)``, which the Deploy CLI's literal replacement applies, for JSON values."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, list):
        return ",".join("" if item is None else _js_string(item) for item in value)
    return "[object Object]"


def read_tenant(path: Path, mappings: Mapping[str, Any]) -> Document:
    """The tenant at ``path`` (a file, or a directory in the Deploy CLI's directory format).

    Raises ``TenantFileError`` for a path that is missing or unreadable and for any of the faults the module
    docstring lists.
    """
    if path.is_dir():
        return _read_directory(path, mappings)
    # Errors of a single file name the place in it; the command names the file.
    sections = _load(path, "", mappings)
    if not isinstance(sections, dict):
        raise TenantFileError(
            "",
            _("the file must hold an object (sections by name), not %(type)s.") % {"type": type_name(sections)},
        )
    return Document(sections=sections, base_dir=path.parent)


def _read_directory(root: Path, mappings: Mapping[str, Any]) -> Document:
    sections: dict[str, Any] = {}
    origins: dict[str, list[str]] = {}

    def inside(file: Path, where: str) -> None:
        if not is_inside(file, root):
            raise TenantFileError(where, _("leads out of the tenant's directory (a symbolic link?)."))

    def add(section: str, file: Path) -> None:
        where = str(file.relative_to(root))
        inside(file, where)
        value = _load(file, where, mappings)
        if not isinstance(value, dict):
            raise TenantFileError(where, _("the file must hold one object, not %(type)s.") % {"type": type_name(value)})
        sections.setdefault(section, []).append(value)
        origins.setdefault(section, []).append(where)

    for section, folder_name in (("clients", "clients"), ("connections", "connections"), ("clientGrants", "grants")):
        for file in sorted((root / folder_name).glob("*.json")) if (root / folder_name).is_dir() else ():
            add(section, file)
    databases = root / "database-connections"
    for folder in sorted(databases.iterdir()) if databases.is_dir() else ():
        if (folder / "database.json").is_file():
            add("databases", folder / "database.json")
    users = root / "users"
    for file in sorted(users.glob("*.json")) if users.is_dir() else ():
        # One bulk-import file per connection, named after it; read by the importer, not here.
        inside(file, str(file.relative_to(root)))
        sections.setdefault("users", []).append({"connection": file.stem, "file": str(file.relative_to(root))})
        origins.setdefault("users", []).append(str(file.relative_to(root)))
    modelled = {"clients", "connections", "grants", "database-connections", "users"}
    for entry in sorted(root.iterdir()):
        if entry.name not in modelled and not entry.name.startswith("."):
            sections.setdefault(entry.stem, None)  # reported as a section we do not model
    return Document(sections=sections, base_dir=root, origins=origins)


def is_inside(path: Path, root: Path) -> bool:
    """Whether ``path``, symbolic links followed, is ``root`` or below it.

    A tenant's files are the tenant's: a link or a ``../`` in a name must not make the command read (and then
    quote, in an import error) a file elsewhere on the machine, such as another service's secrets.
    """
    return path.resolve().is_relative_to(root.resolve())


def _load(path: Path, where: str, mappings: Mapping[str, Any]) -> Any:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_TENANT_BYTES + 1)
    except OSError as exc:
        raise TenantFileError(where, _("cannot be read: %(reason)s.") % {"reason": exc.strerror or exc}) from exc
    if len(raw) > MAX_TENANT_BYTES:
        raise TenantFileError(where, _("larger than %(mb)d MB.") % {"mb": MAX_TENANT_BYTES // (1024 * 1024)})
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise TenantFileError(where, _("not UTF-8 (byte %(offset)d).") % {"offset": exc.start}) from exc
    text = replace_keywords(text, mappings)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TENANT_BYTES:
        raise TenantFileError(
            where,
            _("larger than %(mb)d MB after keyword replacement.") % {"mb": MAX_TENANT_BYTES // (1024 * 1024)},
        )
    value = _parse_json(text, where) if path.suffix.lower() == ".json" else _parse_yaml(text, where)
    _check_plain(value, where, budget=max(len(text), 1))
    return value


class _NumberTooLong(ValueError):
    """A number with more digits than Python converts (``sys.get_int_max_str_digits()``, 4,300 by default)."""


def _too_long_number(where: str) -> TenantFileError:
    return TenantFileError(
        where, _("a number with more than %(digits)d digits.") % {"digits": sys.get_int_max_str_digits()}
    )


def _parse_json(text: str, where: str) -> Any:
    def no_constants(name: str) -> Any:
        raise ValueError(name)

    def integer(digits: str) -> int:
        try:
            return int(digits)
        except ValueError as exc:  # over the int-to-text limit (CVE-2020-10735): refused, not a traceback
            raise _NumberTooLong from exc

    try:
        return json.loads(text, parse_constant=no_constants, parse_int=integer)
    except _NumberTooLong as exc:
        raise _too_long_number(where) from exc
    except json.JSONDecodeError as exc:
        # The decoder's message names the line and column, never the text there.
        raise TenantFileError(where, _("not valid JSON: %(reason)s.") % {"reason": exc}) from exc
    except ValueError as exc:
        raise TenantFileError(where, _("%(name)s is not a JSON number.") % {"name": exc}) from exc
    except RecursionError as exc:
        raise TenantFileError(where, _("nested deeper than %(depth)d levels.") % {"depth": MAX_DEPTH}) from exc


class _SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader (standard tags only, no Python objects), C-accelerated when available."""


if hasattr(yaml, "CSafeLoader"):  # pragma: no branch - libyaml is in PyYAML's wheels

    class _FastSafeLoader(yaml.CSafeLoader):
        pass

    _LOADER: type = _FastSafeLoader
else:  # pragma: no cover
    _LOADER = _SafeLoader


def _parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader (standard tags only)
    except yaml.MarkedYAMLError as exc:
        # The problem and its place only: str(exc) would quote the line, which may hold a secret.
        mark = exc.problem_mark or exc.context_mark
        place = (
            _(" (line %(line)d, column %(column)d)") % {"line": mark.line + 1, "column": mark.column + 1}
            if mark
            else ""
        )
        raise TenantFileError(
            where,
            _("not valid YAML: %(problem)s%(place)s.")
            % {
                "problem": exc.problem or exc.context or "syntax error",
                "place": place,
            },
        ) from exc
    except yaml.YAMLError as exc:
        # A reader error (a character YAML does not allow, such as NUL): its position, not the text.
        position = getattr(exc, "position", None)
        detail = _("a character YAML does not allow at character %(position)d") % {"position": position}
        raise TenantFileError(
            where, _("not valid YAML: %(problem)s.") % {"problem": detail if position is not None else "syntax error"}
        ) from exc
    except RecursionError as exc:
        raise TenantFileError(where, _("nested deeper than %(depth)d levels.") % {"depth": MAX_DEPTH}) from exc
    except ValueError as exc:
        # PyYAML's int() of a plain scalar over the int-to-text limit (the only ValueError its safe constructor
        # lets through): one line, not a traceback.
        raise _too_long_number(where) from exc


def _check_plain(value: Any, where: str, *, budget: int) -> None:
    """Refuse what JSON cannot hold and what the databases cannot store; aliases may not grow the document.

    Walks the value as JSON would serialise it, counting every node each time it is reached: a document whose
    aliases expand it beyond ``budget`` nodes (the text's length, which no alias-free document reaches) is refused,
    and so is one that contains itself.
    """
    seen = 0
    stack: list[tuple[Any, str, int, frozenset[int]]] = [(value, "", 0, frozenset())]
    while stack:
        node, path, depth, ancestors = stack.pop()
        seen += 1
        if seen > budget:
            raise TenantFileError(where, _("aliases expand the document beyond the size of the file."))
        if depth > MAX_DEPTH:
            raise TenantFileError(where, _("nested deeper than %(depth)d levels.") % {"depth": MAX_DEPTH})
        if isinstance(node, dict | list):
            if id(node) in ancestors:
                raise TenantFileError(_at(where, path or "/"), _("refers to itself through an alias."))
            inner = ancestors | {id(node)}
            if isinstance(node, dict):
                for key, item in node.items():
                    if not isinstance(key, str):
                        raise TenantFileError(
                            _at(where, path or "/"),
                            _("a key that is not a string (%(type)s).") % {"type": type_name(key)},
                        )
                    _check_text(key, where, path)
                    stack.append((item, f"{path}.{key}" if path else key, depth + 1, inner))
            else:
                for index, item in enumerate(node):
                    stack.append((item, f"{path}[{index}]", depth + 1, inner))
        elif isinstance(node, str):
            _check_text(node, where, path)
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise TenantFileError(_at(where, path), _("not a finite number."))
        elif not (node is None or isinstance(node, bool | int)):
            raise TenantFileError(
                _at(where, path or "/"), _("a %(type)s, which JSON cannot hold.") % {"type": type_name(node)}
            )


def _check_text(text: str, where: str, path: str) -> None:
    fault = text_fault(text)
    if fault is not None:
        raise TenantFileError(_at(where, path or "/"), fault)


def _at(where: str, path: str) -> str:
    """A place in a file (``clients[0].name``), after the file's name in the directory format."""
    return f"{where}: {path}" if where else path


def type_name(value: Any) -> str:
    """What a value is, in JSON's words where JSON has one (for messages)."""
    if value is None:
        return _("null")
    if isinstance(value, bool):
        return _("a boolean")
    if isinstance(value, int | float):
        return _("a number")
    if isinstance(value, str):
        return _("a string")
    if isinstance(value, list):
        return _("an array")
    if isinstance(value, dict):
        return _("an object")
    return type(value).__name__
