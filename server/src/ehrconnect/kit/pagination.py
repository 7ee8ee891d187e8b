"""Opaque keyset cursors.

A cursor names the last row of a page by its time-ordered primary key; the next page is
every row strictly "older" than it, so rows inserted between page reads never shift or
duplicate results (no offsets anywhere).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,80}$")


class InvalidCursor(ValueError):
    """The client sent a cursor we did not issue."""


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(f"c1:{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidCursor(cursor) from exc
    if not raw.startswith("c1:") or not _KEY_PATTERN.match(raw[3:]):
        raise InvalidCursor(cursor)
    return raw[3:]


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows plus whether more exist after it."""

    items: list[T]
    has_more: bool

    def next_cursor(self, key_of: Callable[[T], str]) -> str | None:
        if not self.has_more or not self.items:
            return None
        return encode_cursor(key_of(self.items[-1]))
