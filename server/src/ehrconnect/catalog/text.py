"""Text folding shared by the importers, the indexes and the ranking (one definition of a "word").

Names are folded to ASCII lower case with punctuation as spaces, so "St. Luke's" and
"st lukes" compare equal on every backend, whatever the database's own tokenizer does.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: USPS state and territory codes (athenahealth prefixes practice names with them: "NC - ...").
US_STATES = frozenset(
    {
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
        "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
        "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
        "WV", "WI", "WY", "PR", "VI", "GU", "AS", "MP",
    }
)

#: State names, so "missouri" finds places stored as "MO".
STATE_NAMES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California", "CO": "Colorado",
    "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas",
    "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts",
    "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico",
    "NY": "New York", "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington",
    "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming", "PR": "Puerto Rico",
}

#: Words dropped from queries (not from names): they carry no identity and vary ("&" vs "and").
STOPWORDS = frozenset({"and", "of", "the", "at"})

#: Common abbreviations in organization names; a query word also matches its expansion.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "st": ("saint",),
    "saint": ("st",),
    "mt": ("mount",),
    "mount": ("mt",),
    "ft": ("fort",),
    "fort": ("ft",),
    "ctr": ("center",),
    "hosp": ("hospital",),
    "med": ("medical",),
    "univ": ("university",),
    "assoc": ("associates",),
    "peds": ("pediatrics",),
}

_NON_WORD = re.compile(r"[^a-z0-9]+")
_STATE_PREFIX = re.compile(r"^\s*([A-Za-z]{2})\s+-\s+(.+)$")
_APOSTROPHES = re.compile(r"['\u2019`]")


@lru_cache(maxsize=131072)
def fold(text: str) -> str:
    """ASCII, lower case, "&" as "and", apostrophes removed, other punctuation as single spaces."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    ascii_text = _APOSTROPHES.sub("", ascii_text.replace("&", " and "))
    return _NON_WORD.sub(" ", ascii_text).strip()


def words(text: str) -> list[str]:
    """The folded words of `text`."""
    folded = fold(text)
    return folded.split() if folded else []


def split_state_prefix(name: str) -> tuple[str, str | None]:
    """("NC - Sollus Pediatrics") -> ("Sollus Pediatrics", "NC"); other names unchanged."""
    match = _STATE_PREFIX.match(name)
    if match and match.group(1).upper() in US_STATES:
        return match.group(2).strip(), match.group(1).upper()
    return name, None


def zip5(postal_code: str | None) -> str | None:
    """The 5-digit ZIP of a US postal code ("32073-3035" -> "32073"); None if there is none."""
    if not postal_code:
        return None
    digits = re.sub(r"\D", "", postal_code)
    return digits[:5] if len(digits) >= 5 else None


def clean_npi(value: str | None) -> str | None:
    """A 10-digit NPI, or None for the empty strings and junk vendor lists carry."""
    if not value:
        return None
    digits = value.strip()
    return digits if len(digits) == 10 and digits.isdigit() else None


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (Damerau: one transposition counts 1), capped at limit+1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        row_min = current[0]
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
            row_min = min(row_min, value)
        if row_min > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def typo_budget(word: str) -> int:
    """Edits tolerated in a query word: none below 4 letters, 1 up to 7, 2 beyond."""
    if len(word) < 4 or word.isdigit():
        return 0
    return 1 if len(word) <= 7 else 2
