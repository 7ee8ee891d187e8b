"""Date-pinned API versions: resolution from the `Version` header or the key's pinned version."""

from __future__ import annotations

from ehrconnect.errors import APIError

SUPPORTED_VERSIONS: tuple[str, ...] = ("2026-04-25",)
LATEST_VERSION = SUPPORTED_VERSIONS[-1]


def resolve_version(header_value: str | None, pinned: str | None) -> str:
    """The version a request runs under: the header when given, else the key's pin."""
    if header_value is None or header_value.strip() == "":
        return pinned if pinned in SUPPORTED_VERSIONS else LATEST_VERSION
    value = header_value.strip()
    if value not in SUPPORTED_VERSIONS:
        raise APIError(
            "unsupported_api_version",
            f"API version {value!r} is not supported; supported: {', '.join(SUPPORTED_VERSIONS)}.",
            param="Version",
        )
    return value
