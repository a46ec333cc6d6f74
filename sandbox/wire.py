"""JSON and timestamps exactly as they travel on the wire.

Prices are a confirmation: a client must send back the very number it received (``560.10``
stays ``560.10``). The standard ``json`` module turns such numbers into floats and cannot write a
``Decimal`` as a bare number, so the sandbox reads JSON with ``parse_float=Decimal`` and writes it
with the small encoder below, which prints a ``Decimal`` as written (trailing zeros kept).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _quote
from typing import Any


class Raw:
    """An already encoded JSON fragment, spliced into the output as is (cached catalog rows)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode(raw: bytes) -> Any:
    """Parse a request body; floats become ``Decimal``, NaN and Infinity are refused."""
    return json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)


def _encode(obj: Any, out: list[str]) -> None:
    if isinstance(obj, dict):
        _encode_object(obj, out)
    elif isinstance(obj, list | tuple):
        _encode_array(obj, out)
    elif isinstance(obj, Raw):
        out.append(obj.data.decode())
    else:
        out.append(_scalar(obj))


def _encode_object(obj: dict, out: list[str]) -> None:
    out.append("{")
    first = True
    for key, value in obj.items():
        if not first:
            out.append(",")
        first = False
        out.append(_quote(str(key)))
        out.append(":")
        _encode(value, out)
    out.append("}")


def _encode_array(obj: list | tuple, out: list[str]) -> None:
    out.append("[")
    for index, value in enumerate(obj):
        if index:
            out.append(",")
        _encode(value, out)
    out.append("]")


def _scalar(obj: Any) -> str:
    """A JSON literal, string or number; a ``Decimal`` as written."""
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, str):
        return _quote(obj)
    if isinstance(obj, int):
        return int.__repr__(obj)
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError("non-finite Decimal")
        return format(obj, "f")
    if isinstance(obj, float):
        return float.__repr__(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


def encode(obj: Any) -> bytes:
    """Encode ``obj`` as compact JSON bytes, ``Decimal`` written exactly."""
    out: list[str] = []
    _encode(obj, out)
    return "".join(out).encode()


def quote(text: str) -> str:
    """A JSON string literal (used to build cached catalog rows by hand)."""
    return _quote(text)


def order_time(ts: float) -> str:
    """Order ``createdAt`` as GamesDrop writes it: ``2024-05-28 10:08:04.296+00``."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00"


def iso_time(ts: float) -> str:
    """Ledger ``createdAt`` as GamesDrop writes it: ``2025-07-28T05:21:46.121Z``."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_time_micro(ts: float) -> str:
    """Request-log time with microseconds, for client rate-limit checks."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
