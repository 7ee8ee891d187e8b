"""FHIR date/dateTime/instant values as half-open UTC ranges, and date search prefixes.

A value covers the whole span of its precision (R4 search §3.1.1.5.9 "date"): ``2013`` is all of
2013, ``2013-03-04T05:28:45+00:00`` is that second.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")

Range = tuple[datetime, datetime]


def parse_range(value: str) -> Range | None:
    """Parse a FHIR date/dateTime/instant into ``[start, end)`` in UTC, or None if malformed."""
    match = _DATE_RE.match(value.strip())
    if match is None:
        return None
    parts = match.groupdict()
    try:
        year = int(parts["y"])
        if parts["m"] is None:
            start = datetime(year, 1, 1, tzinfo=UTC)
            return start, datetime(year + 1, 1, 1, tzinfo=UTC)
        month = int(parts["m"])
        if parts["d"] is None:
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
            return start, end
        day = int(parts["d"])
        if parts["H"] is None:
            start = datetime(year, month, day, tzinfo=UTC)
            return start, start + timedelta(days=1)
        tz: tzinfo = UTC
        if parts["tz"] and parts["tz"] != "Z":
            sign = 1 if parts["tz"][0] == "+" else -1
            hours, minutes = int(parts["tz"][1:3]), int(parts["tz"][4:6])
            tz = timezone(timedelta(minutes=sign * (hours * 60 + minutes)))
        fraction = parts["f"] or ""
        micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
        local = datetime(year, month, day, int(parts["H"]), int(parts["M"]), int(parts["S"] or 0), micro, tzinfo=tz)
        start = local.astimezone(UTC)
        if parts["S"] is None:
            step = timedelta(minutes=1)
        elif fraction:
            step = timedelta(microseconds=1)
        else:
            step = timedelta(seconds=1)
        return start, start + step
    except ValueError:
        return None


def value_range(value: object) -> Range | None:
    """Range of a FHIR element value: a date string or a Period."""
    if isinstance(value, str):
        return parse_range(value)
    if isinstance(value, dict):
        start = value.get("start")
        end = value.get("end")
        lo = parse_range(start) if isinstance(start, str) else None
        hi = parse_range(end) if isinstance(end, str) else None
        if lo is None and hi is None:
            return None
        low = lo[0] if lo else datetime.min.replace(tzinfo=UTC)
        high = hi[1] if hi else datetime.max.replace(tzinfo=UTC)
        return low, high
    return None


def split_prefix(param: str) -> tuple[str, str]:
    """Split ``ge2020-01-01`` into (``ge``, ``2020-01-01``); no prefix means ``eq``."""
    if len(param) > 2 and param[:2] in PREFIXES and not param[:2].isdigit():
        return param[:2], param[2:]
    return "eq", param


def matches(prefix: str, search: Range, target: Range) -> bool:
    """Whether a target range satisfies ``prefix search`` (R4 search §3.1.1.4 prefix table)."""
    s_lo, s_hi = search
    t_lo, t_hi = target
    if prefix == "eq":
        return t_lo >= s_lo and t_hi <= s_hi
    if prefix == "ne":
        return not (t_lo >= s_lo and t_hi <= s_hi)
    if prefix == "gt":
        return t_hi > s_hi
    if prefix == "lt":
        return t_lo < s_lo
    if prefix == "ge":
        return t_hi > s_lo
    if prefix == "le":
        return t_lo < s_hi
    if prefix == "sa":
        return t_lo >= s_hi
    if prefix == "eb":
        return t_hi <= s_lo
    # ap: approximately; treat as overlap
    return t_lo < s_hi and t_hi > s_lo


def format_instant(moment: datetime) -> str:
    """Format as a FHIR instant in UTC with a ``Z`` suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
