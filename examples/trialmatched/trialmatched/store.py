"""The app's own data: its users (each with the ``patient_id`` it uses at ehrconnect) and the
Connect Sessions each user started. Plain ``sqlite3``; one short-lived connection per call, so
it is safe to call from worker threads (the routes use ``run_in_threadpool``)."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    patient_id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS connect_attempts (
    session_id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    mode TEXT NOT NULL CHECK (mode IN ('picker', 'direct')),
    facility_id TEXT,
    created_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class User:
    """A TrialMatched user. ``patient_id`` is opaque and random: it carries no PHI to ehrconnect."""

    id: int
    username: str
    patient_id: str


@dataclass(frozen=True)
class ConnectAttempt:
    """A Connect Session this app started for one of its users."""

    session_id: str
    user_id: int
    mode: str
    facility_id: str | None


class Store:
    """Tiny repository over one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        try:
            db.execute("PRAGMA foreign_keys = ON")
            with db:  # commits on success, rolls back on error
                yield db
        finally:
            db.close()

    def get_or_create_user(self, username: str) -> User:
        """The user with this name, created (with a fresh random patient id) on first sign-in."""
        with self._connect() as db:
            row = db.execute("SELECT id, username, patient_id FROM users WHERE username = ?", (username,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT OR IGNORE INTO users (username, patient_id, created_at) VALUES (?, ?, ?)",
                    (username, "tm_" + secrets.token_hex(12), _now()),
                )
                row = db.execute(
                    "SELECT id, username, patient_id FROM users WHERE username = ?", (username,)
                ).fetchone()
        return User(int(row[0]), str(row[1]), str(row[2]))

    def get_user(self, user_id: int) -> User | None:
        with self._connect() as db:
            row = db.execute("SELECT id, username, patient_id FROM users WHERE id = ?", (user_id,)).fetchone()
        return None if row is None else User(int(row[0]), str(row[1]), str(row[2]))

    def record_attempt(self, session_id: str, user_id: int, mode: str, facility_id: str | None) -> None:
        """Remember that this user started this session (checked again on the return)."""
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO connect_attempts (session_id, user_id, mode, facility_id, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (session_id, user_id, mode, facility_id, _now()),
            )

    def get_attempt(self, session_id: str) -> ConnectAttempt | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT session_id, user_id, mode, facility_id FROM connect_attempts WHERE session_id = ?",
                (session_id,),
            ).fetchone()
        return None if row is None else ConnectAttempt(str(row[0]), int(row[1]), str(row[2]), row[3])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
