"""The emulator's state: users, sessions and browser clients, kept in memory and in SQLite.

Reads come from memory; every change is written through to `state.sqlite3` under the state
directory, one row per object, so a change costs one small write however many users exist and
the state survives a restart. One lock serialises changes (the server is threaded).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clients (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Store:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.images_dir = self.state_dir / "images"
        self.images_dir.mkdir(exist_ok=True)
        self.lock = threading.RLock()
        self._db = sqlite3.connect(self.state_dir / "state.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self.users: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.clients: dict[str, dict[str, Any]] = {}
        self._seq: dict[str, int] = {}
        self._emails: dict[str, str] = {}
        self._usernames: dict[str, str] = {}
        self._load()

    # --- loading and indexes ------------------------------------------------------------------

    def _load(self) -> None:
        for user_id, seq, data in self._db.execute("SELECT id, seq, data FROM users ORDER BY seq"):
            self.users[user_id] = json.loads(data)
            self._seq[user_id] = seq
            self._index(self.users[user_id])
        for session_id, seq, data in self._db.execute("SELECT id, seq, data FROM sessions ORDER BY seq"):
            self.sessions[session_id] = json.loads(data)
            self._seq[session_id] = seq
        for client_id, data in self._db.execute("SELECT id, data FROM clients"):
            self.clients[client_id] = json.loads(data)
        self._next_seq = max(self._seq.values(), default=0) + 1

    def _index(self, user: dict[str, Any]) -> None:
        for entry in user["email_addresses"]:
            self._emails[entry["email_address"].lower()] = user["id"]
        if user.get("username"):
            self._usernames[user["username"].lower()] = user["id"]

    def _unindex(self, user: dict[str, Any]) -> None:
        for entry in user["email_addresses"]:
            self._emails.pop(entry["email_address"].lower(), None)
        if user.get("username"):
            self._usernames.pop(user["username"].lower(), None)

    def owner_of_email(self, address: str) -> str | None:
        return self._emails.get(address.lower())

    def owner_of_username(self, username: str) -> str | None:
        return self._usernames.get(username.lower())

    def seq(self, object_id: str) -> int:
        return self._seq.get(object_id, 0)

    # --- meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.lock:
            self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                             "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    # --- users --------------------------------------------------------------------------------

    def put_users(self, users: Iterable[dict[str, Any]]) -> None:
        """Insert or replace users (one transaction); the caller holds `lock` for read-modify-write."""
        with self.lock:
            rows = []
            for user in users:
                old = self.users.get(user["id"])
                if old is not None:
                    self._unindex(old)
                else:
                    self._seq[user["id"]] = self._next_seq
                    self._next_seq += 1
                self.users[user["id"]] = user
                self._index(user)
                rows.append((user["id"], self._seq[user["id"]], json.dumps(user, separators=(",", ":"))))
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO users (id, seq, data) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET data = excluded.data", rows)
            self._db.execute("COMMIT")

    def put_user(self, user: dict[str, Any]) -> None:
        self.put_users([user])

    def remove_user(self, user_id: str) -> dict[str, Any] | None:
        with self.lock:
            user = self.users.pop(user_id, None)
            if user is None:
                return None
            self._unindex(user)
            self._seq.pop(user_id, None)
            self._db.execute("DELETE FROM users WHERE id = ?", (user_id,))
            return user

    # --- sessions and clients -----------------------------------------------------------------

    def put_session(self, session: dict[str, Any]) -> None:
        with self.lock:
            if session["id"] not in self.sessions:
                self._seq[session["id"]] = self._next_seq
                self._next_seq += 1
            self.sessions[session["id"]] = session
            self._db.execute(
                "INSERT INTO sessions (id, seq, data) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                (session["id"], self._seq[session["id"]], json.dumps(session, separators=(",", ":"))))

    def put_client(self, client: dict[str, Any]) -> None:
        with self.lock:
            self.clients[client["id"]] = client
            self._db.execute(
                "INSERT INTO clients (id, data) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                (client["id"], json.dumps(client, separators=(",", ":"))))

    # --- reset --------------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every user, session and client (the signing key and instance id stay)."""
        with self.lock:
            self.users.clear()
            self.sessions.clear()
            self.clients.clear()
            self._seq.clear()
            self._emails.clear()
            self._usernames.clear()
            self._next_seq = 1
            self._db.executescript("BEGIN; DELETE FROM users; DELETE FROM sessions; DELETE FROM clients; COMMIT;")
            for path in self.images_dir.iterdir():
                if path.is_file():
                    path.unlink()

    def close(self) -> None:
        with self.lock:
            self._db.close()
