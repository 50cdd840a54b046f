"""How many bytes a JSON value is as the database writes it back: what every later read of the row carries.

PostgreSQL's ``jsonb`` keeps a number as ``numeric``, which it writes back in plain notation: ``1e+308`` (six bytes
sent) reads back as 1 and 308 zeros, an integer, and ``5e-324`` as ``0.``, 323 zeros and a 5 (PostgreSQL
documentation, "JSON Types": numbers are stored as ``numeric``; "Numeric Types": output never uses exponential
notation). A float JSON writes with an exponent is counted as those digits on every database, so a limit on what is
stored holds on PostgreSQL too, whatever the body that sent it looked like.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

# json.dumps with arguments builds an encoder on every call; this one is built once.
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def stored_json_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (0 for ``None``), each float written with an exponent counted as the
    digits PostgreSQL writes it back as."""
    if value is None:
        return 0
    text = _COMPACT_JSON.encode(value)
    size = len(text) if text.isascii() else len(text.encode("utf-8"))
    if "e+" in text or "e-" in text:  # only then can a float be written with an exponent
        size += sum(len(format(Decimal(repr(number)), "f")) - len(repr(number)) for number in _exponent_floats(value))
    return size


def _exponent_floats(value: Any) -> Iterator[float]:
    """Every float below ``value`` that JSON writes with an exponent (``1e+308``, ``-2.5e+20``, ``5e-324``);
    iterative."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, float):
            if "e" in repr(node):
                yield node
        elif isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
