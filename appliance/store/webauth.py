"""Failed web logins, counted per account and per source address, so that guessing is locked out.

Kept in the database, not in memory: gunicorn runs several worker processes, and a guesser must not get
a fresh allowance from each of them or from a restart. Times are wall-clock epoch seconds (they must
survive a restart), passed in as `now` by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

from appliance.store.db import transaction

#: Rows older than this are deleted whatever the configured window (bounds the table).
RETENTION_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class Lockout:
    """Why a login is refused without looking at the password, and for how long."""

    scope: str  # "account" or "address"
    key: str
    retry_after: float  # seconds


class LoginThrottle:
    """Count failures and decide lockouts: `limit` failures within `window` seconds lock for the rest of
    the window, per account and, separately, per source address."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def lockout(self, account: str, address: str, *, now: float, limit: int, window: float) -> Lockout | None:
        """The lockout in force for this account or this address, or None when a try is allowed."""
        if not account:
            raise ValueError("the account must not be empty")
        for scope, key in (("account", account), ("address", address)):
            times = self._recent(scope, key, now - window, limit)
            if len(times) >= limit:
                # Locked until the limit-th most recent failure leaves the window.
                return Lockout(scope, key, max(0.0, times[limit - 1] + window - now))
        return None

    def record_failure(self, account: str, address: str, *, now: float) -> None:
        """Remember one failed attempt (and forget failures older than the retention period)."""
        with transaction(self._db):
            self._db.conn.execute(
                "INSERT INTO web_login_failures (account, address, at) VALUES (?, ?, ?)",
                (account, address, now),
            )
            self._db.conn.execute("DELETE FROM web_login_failures WHERE at < ?", (now - RETENTION_SECONDS,))

    def record_success(self, account: str) -> None:
        """A correct password clears the account's failures (not the address's: a guesser who owns one
        account must not reset the count of the guesses it makes at others)."""
        with transaction(self._db):
            # The rows stay (with no account) because they still count against their address.
            self._db.conn.execute("UPDATE web_login_failures SET account = '' WHERE account = ?", (account,))

    def failures(self, *, account: str | None = None, address: str | None = None, since: float = 0.0) -> int:
        """How many failures are remembered for an account or an address since `since` (for tests/status)."""
        if (account is None) == (address is None):
            raise ValueError("give exactly one of account or address")
        column, key = ("account", account) if account is not None else ("address", address)
        row = self._db.conn.execute(
            f"SELECT count(*) FROM web_login_failures WHERE {column} = ? AND at >= ?", (key, since)
        ).fetchone()
        return int(row[0])

    def _recent(self, scope: str, key: str, since: float, limit: int) -> list[float]:
        column = "account" if scope == "account" else "address"
        rows = self._db.conn.execute(
            f"SELECT at FROM web_login_failures WHERE {column} = ? AND at >= ? ORDER BY at DESC LIMIT ?",
            (key, since, limit),
        ).fetchall()
        return [float(row[0]) for row in rows]
