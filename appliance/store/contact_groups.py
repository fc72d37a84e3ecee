"""Contact groups ("Customers", "Suppliers"): labels on contacts that voicemail rules match callers by.

A group is just a name carried by one or more contacts; it exists while some contact carries it. Names
compare without regard to ASCII case. Which contacts count for a mailbox is decided by `owner`: the
company phonebook always counts, a personal contact only for its owner's own mailbox (3CX: the
"Customers" group of *my* contacts decides what *my* callers hear).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from sqlite_utils import Database

from appliance.store.contacts import NoSuchContact, normalize_number
from appliance.store.db import transaction
from appliance.store.exceptions import InvalidValue

GROUP_NAME_MAX = 64
GROUPS_PER_CONTACT_MAX = 32


def validate_group_name(name: str) -> str:
    """A trimmed name of 1-64 printable characters."""
    if not isinstance(name, str):
        raise InvalidValue("group", "must be text")
    name = name.strip()
    if not name:
        raise InvalidValue("group", "must not be empty")
    if len(name) > GROUP_NAME_MAX:
        raise InvalidValue("group", f"must be at most {GROUP_NAME_MAX} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidValue("group", "must not contain control characters")
    return name


class ContactGroups:
    """Group membership of contacts, and which groups a calling number belongs to."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- writes -----------------------------------------------------------------------------------------

    def add(self, contact_id: int, group: str) -> None:
        """Put a contact in a group (no error if it already is); NoSuchContact for an unknown id."""
        name = validate_group_name(group)
        try:
            with transaction(self._db):
                count = self._db.conn.execute(
                    "SELECT count(*) FROM contact_group_members WHERE contact_id = ?", (contact_id,)
                ).fetchone()[0]
                if count >= GROUPS_PER_CONTACT_MAX and name.casefold() not in {
                    g.casefold() for g in self.groups_of(contact_id)
                }:
                    raise InvalidValue("group", f"a contact can be in at most {GROUPS_PER_CONTACT_MAX} groups")
                self._db.conn.execute(
                    "INSERT OR IGNORE INTO contact_group_members (contact_id, group_name) VALUES (?, ?)",
                    (contact_id, name),
                )
        except sqlite3.IntegrityError as err:  # foreign key: no such contact
            raise NoSuchContact(contact_id) from err

    def remove(self, contact_id: int, group: str) -> bool:
        """Take a contact out of a group; True if it was in it."""
        name = validate_group_name(group)
        with transaction(self._db):
            cursor = self._db.conn.execute(
                "DELETE FROM contact_group_members WHERE contact_id = ? AND group_name = ?", (contact_id, name)
            )
        return cursor.rowcount > 0

    def set_groups(self, contact_id: int, groups: Iterable[str]) -> list[str]:
        """Replace a contact's groups with `groups` (the contact edit form); returns them sorted."""
        names = {validate_group_name(g).casefold(): validate_group_name(g) for g in groups}
        if len(names) > GROUPS_PER_CONTACT_MAX:
            raise InvalidValue("group", f"a contact can be in at most {GROUPS_PER_CONTACT_MAX} groups")
        try:
            with transaction(self._db):
                if self._db.conn.execute("SELECT 1 FROM contacts WHERE id = ?", (contact_id,)).fetchone() is None:
                    raise NoSuchContact(contact_id)
                self._db.conn.execute("DELETE FROM contact_group_members WHERE contact_id = ?", (contact_id,))
                self._db.conn.executemany(
                    "INSERT INTO contact_group_members (contact_id, group_name) VALUES (?, ?)",
                    [(contact_id, name) for name in names.values()],
                )
        except sqlite3.IntegrityError as err:
            raise NoSuchContact(contact_id) from err
        return self.groups_of(contact_id)

    # -- reads ------------------------------------------------------------------------------------------

    def groups_of(self, contact_id: int) -> list[str]:
        """The groups one contact is in, sorted."""
        rows = self._db.conn.execute(
            "SELECT group_name FROM contact_group_members WHERE contact_id = ? ORDER BY group_name",
            (contact_id,),
        ).fetchall()
        return [row[0] for row in rows]

    def members(self, group: str, *, owner: str | None) -> list[int]:
        """Ids of the contacts in `group` that count for `owner`: the company book's and `owner`'s own."""
        name = validate_group_name(group)
        rows = self._db.conn.execute(
            "SELECT m.contact_id FROM contact_group_members m JOIN contacts c ON c.id = m.contact_id"
            " WHERE m.group_name = ? AND (c.owner IS NULL OR c.owner IS ?) ORDER BY m.contact_id",
            (name, owner),
        ).fetchall()
        return [row[0] for row in rows]

    def names(self, *, owner: str | None) -> list[str]:
        """Every group name in use for `owner` (company book plus `owner`'s contacts), for a picker."""
        rows = self._db.conn.execute(
            "SELECT DISTINCT m.group_name FROM contact_group_members m JOIN contacts c ON c.id = m.contact_id"
            " WHERE c.owner IS NULL OR c.owner IS ? ORDER BY m.group_name COLLATE NOCASE",
            (owner,),
        ).fetchall()
        # DISTINCT on a NOCASE column keeps one spelling per name
        return [row[0] for row in rows]

    def groups_of_number(self, number: str, *, owner: str | None) -> set[str]:
        """Groups (case-folded) of every contact with this number that counts for `owner`.

        The number is normalised as contacts store it; something that is not a number (an anonymous
        caller, a SIP URI user part with letters) is in no group.
        """
        try:
            wanted = normalize_number(number)
        except InvalidValue:
            return set()
        rows = self._db.conn.execute(
            "SELECT DISTINCT m.group_name FROM contact_group_members m"
            " JOIN contacts c ON c.id = m.contact_id"
            " JOIN contact_numbers n ON n.contact_id = c.id"
            " WHERE n.number = ? AND (c.owner IS NULL OR c.owner IS ?)",
            (wanted, owner),
        ).fetchall()
        return {row[0].casefold() for row in rows}
