"""Reading an import file: a JSON array of users or JSON lines (one user a line), as a stream.

Memory stays flat whatever the file's size: an array is read by ijson, its fast C parser (yajl) where it reads the
file as written and the pure-Python one where it does not (a lone surrogate escape, found by a pre-scan; an
integer beyond 64 bits, found by yajl's overflow error, after which the file is read again from the start). A
rejects file written by ``import_users`` reads as its users. Raises ``ImportFileError`` for a file that is not a
JSON array or JSON lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any, BinaryIO

import ijson
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.errors import DomainError, ErrorCode, FieldCode
from users.errors import UserErrorCode
from users.imports.validation import MAX_USER_DEPTH, JobError


class ImportFileError(DomainError):
    """The file as a whole cannot be read as users (400 ``invalid_body``)."""

    code = ErrorCode.INVALID_BODY


class CountingReader:
    """A binary stream that counts what was read (progress and ETA come from the bytes consumed)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.bytes_read = 0
        self._pushback = b""
        self._read_again = 0  # bytes read a second time after ``rewind``, not counted twice

    def peek_first(self) -> bytes:
        """The first byte that is not white space (a BOM is dropped), without consuming it."""
        head = b""
        while True:
            chunk = self.stream.read(4096)
            if not chunk:
                self._pushback = head
                return b""
            head += chunk
            stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
            if stripped:
                self._pushback = stripped
                self.bytes_read += len(head) - len(stripped)
                return stripped[:1]

    def free_of(self, found: Callable[[bytes], bool]) -> bool:
        """Read what is left of a stream that can be rewound, and rewind it: ``True`` when ``found`` saw
        nothing in any window of it, ``False`` when it did or the stream cannot be rewound. ``bytes_read`` is
        left as it was.

        Windows end just after a byte that no JSON escape can continue (anything but a backslash, a hex digit
        or ``u``), so no escape, surrogate pair or run of backslashes is ever split between two windows and
        each window starts where an escape may start. Bytes that never offer such an end (over 1 MB of them)
        count as found: the answer errs on the careful side.
        """
        if not getattr(self.stream, "seekable", lambda: False)():
            return False
        start = self.stream.tell()
        try:
            carry = b""
            chunk = self._pushback or self.stream.read(1 << 20)
            while chunk:
                window = carry + chunk
                end = len(window.rstrip(_ESCAPE_BYTES))
                if end and found(window[:end]):
                    return False
                carry = window[end:]
                if len(carry) > 1 << 20:
                    return False
                chunk = self.stream.read(1 << 20)
            return not (carry and found(carry))
        finally:
            self.stream.seek(start)

    def mark(self) -> tuple[int, bytes, int]:
        """Where a stream that can be rewound stands, for ``rewind``."""
        return self.stream.tell(), self._pushback, self.bytes_read

    def rewind(self, mark: tuple[int, bytes, int]) -> None:
        """Back to ``mark``. ``bytes_read`` does not step back: what is read again is counted once, so progress
        and ETA stay monotonic."""
        position, self._pushback, counted = mark
        self.stream.seek(position)
        self._read_again = self.bytes_read - counted

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""  # ijson reads nothing first, to learn whether the stream gives bytes or text
        if self._pushback:
            data, self._pushback = self._pushback, b""
            if size < 0:
                data += self.stream.read()
        else:
            data = self.stream.read(size)
        again = min(self._read_again, len(data))
        self._read_again -= again
        self.bytes_read += len(data) - again
        return data

    def __iter__(self) -> Iterator[bytes]:
        """Lines, for JSON lines files."""
        pending = b""
        while chunk := self.read(1 << 16):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            yield from lines
        if pending:
            yield pending


def read_users(reader: CountingReader) -> Iterator[tuple[int, Any, JobError | None]]:
    """``(index, user, parse error)`` for each user of a JSON array or JSON lines file, streaming.

    A line of JSON lines that cannot be read is reported by its number and a code alone (``INVALID_JSON``, or
    ``MAX_DEPTH`` when it nests deeper than the parser goes), with ``None`` as its user: the text may hold a
    password. An array that stops being JSON ends the import with an ``ImportFileError`` that names the number
    of users read, never the parser's excerpt of the input. Text is read as written: a lone surrogate escape
    (``\\ud800``) stays one, for the validator to refuse (``_array_items``).

    A rejects file written by ``import_users`` (entries ``{"user": …, "errors": […]}``, with ``"removed"`` when
    secrets were left out) reads as its users, so it can be fixed and run again (``_unwrap``).
    """
    first = reader.peek_first()
    if not first:
        raise ImportFileError(_("Users file must not be empty."))
    if first == b"[":
        index = -1
        try:
            for index, item in enumerate(_array_items(reader)):
                user, error = _unwrap(item)
                yield index, user, error
        except (ijson.JSONError, ijson.IncompleteJSONError, ValueError) as exc:  # UnicodeDecodeError included
            read = index + 1
            raise ImportFileError(
                ngettext(
                    "The users file is not valid JSON after %(count)s user.",
                    "The users file is not valid JSON after %(count)s users.",
                    read,
                )
                % {"count": read}
            ) from exc
        return
    if first != b"{":
        raise ImportFileError(_("The users file must be a JSON array of users or JSON lines (one user a line)."))
    index = 0
    for number, line in enumerate(reader, start=1):
        if not line.strip():
            continue
        try:
            user, error = _unwrap(json.loads(line))
            yield index, user, error
        except RecursionError:
            yield index, None, _line_error(FieldCode.MAX_DEPTH, _("Line %(line)s nests too deeply.") % {"line": number})
        except ValueError:  # json.JSONDecodeError and UnicodeDecodeError
            yield (
                index,
                None,
                _line_error(UserErrorCode.INVALID_JSON, _("Line %(line)s is not valid JSON.") % {"line": number}),
            )
        index += 1


def _line_error(code: str, message: str) -> JobError:
    return {"code": code, "message": message, "path": ""}


# What a JSON escape is made of (``\\``, ``\uD83D``, ...): a window of the file never ends on one of these.
_ESCAPE_BYTES = b"\\0123456789abcdefABCDEFu"
_HIGH = rb"\\u[dD][89abAB][0-9a-fA-F]{2}"
_LOW = rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
# A surrogate escape, as a pair or alone (group 1). A match starts a run of backslashes (none before it) and steps
# over the escaped backslashes of that run, so in ``\\ud800`` (an escaped backslash, then text) there is no escape
# at all; a pair is matched whole, so its low half is never taken for a lone one.
_SURROGATE_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*(?:" + _HIGH + _LOW + rb"|(" + _HIGH + rb"|" + _LOW + rb"))")


def _has_lone_surrogate_escape(data: bytes) -> bool:
    """Whether ``data`` (a window of a JSON file that starts where an escape may start) writes a surrogate
    that is not half of a pair: ijson's fast C parser (yajl) turns a lone high one into ``?`` without a word
    and fails the whole file on a lone low one."""
    if b"\\ud" not in data and b"\\uD" not in data:
        return False  # the common case, at memory speed
    return any(match.group(1) for match in _SURROGATE_ESCAPE.finditer(data))


# Containers at this depth (the array's items are level 1) are kept empty and their content is read but not
# built: two levels below the deepest a user may have (a rejects-file entry holds its user one level down, and
# the level below that is where validation finds the excess and refuses the user, ``MAX_DEPTH``), so no valid
# user loses anything and no depth costs memory.
_BUILT_DEPTH = MAX_USER_DEPTH + 2


def _array_items(reader: CountingReader) -> Iterator[Any]:
    """The items of a JSON array, built from ijson's C parser events unless the file holds a lone surrogate
    escape or an integer beyond 64 bits.

    The C backend (yajl) writes a lone surrogate as ``?``, which would import a different e-mail than the file
    gives; ijson's pure-Python backend keeps it (and is some twenty times slower, so it reads only such files).
    The file is scanned first when it can be rewound; a stream that cannot (standard input) always gets the
    Python backend.

    yajl also refuses an integer outside int64 (and -2**63, by its own overflow check) with "integer overflow",
    though JSON sets no limit and Python's ``json`` reads it. The C backend runs only on a stream that can be
    rewound, so on that error the file is read again from the start by the Python backend, which steps over the
    items already given (both backends build the same items from the same bytes, so none is given twice).
    Only such files pay, and only for the part before the integer; a pre-scan for long digit runs would send
    every file with long numeric ids in its strings to the slow backend too.
    """
    python = ijson.get_backend("python")
    if not reader.free_of(_has_lone_surrogate_escape):
        yield from _items(python.basic_parse(reader, use_float=True))
        return
    start = reader.mark()
    given = 0
    try:
        for item in _items(ijson.basic_parse(reader, use_float=True)):
            yield item
            given += 1
        return
    except ijson.IncompleteJSONError as exc:
        # yajl's message (``yajl_parser.c``): the one refusal of valid JSON the C backend makes
        if not str(exc).startswith("parse error: integer overflow"):
            raise
    reader.rewind(start)
    yield from islice(_items(python.basic_parse(reader, use_float=True)), given, None)


def _items(events: Iterator[tuple[str, Any]]) -> Iterator[Any]:
    """The items of the array whose ``ijson.basic_parse`` events these are, one at a time.

    Not ``ijson.items``: it keeps a prefix string (``item.item.…``) for every open level, so its memory grows
    with the square of the depth (20,000 levels, a 40 KB file: 1 GB). Here a level costs one container up to
    ``_BUILT_DEPTH`` and a counter below it, and the parser's errors (``ijson.JSONError``, ``ValueError``)
    pass through. The events are read to their end, so what follows the array is checked too.
    """
    stack: list[Any] = []
    top: Any = None  # the container being filled, None between items
    in_map = False
    key: Any = None
    next(events, None)  # the array's own start (``read_users`` saw the "[")
    for event, value in events:
        if event == "map_key":
            key = value
        elif event == "start_map" or event == "start_array":
            container: Any = {} if event == "start_map" else []
            if in_map:
                top[key] = container
            elif top is not None:
                top.append(container)
            if len(stack) + 1 >= _BUILT_DEPTH:
                _skip(events)
            else:
                stack.append(container)
                top, in_map = container, event == "start_map"
        elif event == "end_map" or event == "end_array":
            if not stack:
                continue  # the array's own end
            item = stack.pop()
            if stack:
                top = stack[-1]
                in_map = type(top) is dict
            else:
                top, in_map = None, False
                yield item
        elif in_map:
            top[key] = value
        elif top is not None:
            top.append(value)
        else:
            yield value  # an item that is not a container


def _skip(events: Iterator[tuple[str, Any]]) -> None:
    """Read the events of the container just opened up to its end, counting levels only."""
    depth = 1
    for event, _value in events:
        if event == "start_map" or event == "start_array":
            depth += 1
        elif event == "end_map" or event == "end_array":
            depth -= 1
            if not depth:
                return


def _unwrap(item: Any) -> tuple[Any, JobError | None]:
    """A rejects-file entry as its user; an entry whose secrets were left out must have them back first.

    Such an entry lists their paths under ``removed`` (a list of strings, or the user is refused with
    ``INVALID_TYPE``): if any is still missing the user is refused (``SECRET_REMOVED``) rather than imported
    without its password; deleting ``removed`` imports it as it stands. The message counts the missing paths
    but does not quote them: whatever the file wrote there would be echoed into job errors.
    """
    if not isinstance(item, dict) or not {"user", "errors"} <= item.keys() <= {"user", "errors", "removed"}:
        return item, None
    user, removed = item["user"], item.get("removed", [])
    if not isinstance(removed, list) or not all(isinstance(path, str) for path in removed):
        message = _('"removed" must list the paths of the keys left out, as strings.')
        return user, {"code": FieldCode.INVALID_TYPE, "message": message, "path": ""}
    if removed:
        present = set(_paths(user))
        missing = sum(1 for path in removed if path not in present)
        if missing:
            message = ngettext(
                '%(count)s key listed under "removed" was left out of the rejects file because it is a secret. '
                'Put it back, or delete "removed" to import the user without it.',
                '%(count)s keys listed under "removed" were left out of the rejects file because they are '
                'secrets. Put them back, or delete "removed" to import the user without them.',
                missing,
            ) % {"count": missing}
            return user, {"code": UserErrorCode.SECRET_REMOVED, "message": message, "path": ""}
    return user, None


def _paths(value: Any, path: str = "", depth: int = 1) -> Iterator[str]:
    """The dotted path of every key of ``value`` (``users.imports.validation.reported_user`` writes them so)."""
    if isinstance(value, dict) and depth <= MAX_USER_DEPTH:
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            yield here
            yield from _paths(item, here, depth + 1)
