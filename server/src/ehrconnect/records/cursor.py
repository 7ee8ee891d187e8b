"""Opaque 12-character record cursors (the upstream contract's format, e.g. ``aB3xK9mQp2Lz``).

A cursor names a position in one patient's record order (``Record.seq``). 12 base62
characters hold 71 bits: 48 bits of position and a 23-bit keyed MAC over (patient, position),
so a cursor is rejected when it was made up, altered, or issued for another patient. Positions
never move, so a cursor stays valid for as long as the patient exists.
"""

from __future__ import annotations

import hashlib
import hmac

from ehrconnect.kit.crypto import TokenCipher

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LENGTH = 12
_POSITION_BITS = 48
_MAC_BITS = 23
MAX_POSITION = (1 << _POSITION_BITS) - 1


class InvalidRecordCursor(ValueError):
    """Not a cursor this server issued for this patient."""


def _mac(key: bytes, patient_pk: str, position: int) -> int:
    digest = hmac.new(key, f"records:{patient_pk}:{position}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") >> (32 - _MAC_BITS)


class CursorCodec:
    """Encodes and checks record cursors with a key derived from the server secret."""

    def __init__(self, cipher: TokenCipher) -> None:
        self._key = bytes.fromhex(cipher.sign("record-cursor-key/v1"))

    def encode(self, patient_pk: str, position: int) -> str:
        if not 0 <= position <= MAX_POSITION:
            raise ValueError("position out of range")
        value = (position << _MAC_BITS) | _mac(self._key, patient_pk, position)
        chars = []
        for _ in range(LENGTH):
            value, digit = divmod(value, 62)
            chars.append(ALPHABET[digit])
        return "".join(reversed(chars))

    def decode(self, patient_pk: str, cursor: str) -> int:
        if len(cursor) != LENGTH or any(c not in ALPHABET for c in cursor):
            raise InvalidRecordCursor(cursor)
        value = 0
        for char in cursor:
            value = value * 62 + ALPHABET.index(char)
        position, tag = value >> _MAC_BITS, value & ((1 << _MAC_BITS) - 1)
        if position > MAX_POSITION or not hmac.compare_digest(
            tag.to_bytes(3, "big"), _mac(self._key, patient_pk, position).to_bytes(3, "big")
        ):
            raise InvalidRecordCursor(cursor)
        return position
