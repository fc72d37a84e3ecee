"""Contacts: the company phonebook (owner None, visible to everyone) and personal contacts (one extension's).

Numbers are stored normalised (separators removed) so that the PBX can match an incoming caller's number
to a name with one indexed lookup (`name_for_number`), whatever way the number was typed or imported.
Who may see or edit which book is decided by the caller of this class (the web UI), not here.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from appliance.store.db import Clock, change_version, transaction
from appliance.store.exceptions import InvalidValue, StoreError
from appliance.store.extensions import validate_email

NUMBER_LABELS = ("work", "mobile", "home", "other")
NAME_FIELD_MAX = 64
NUMBERS_MAX = 8
NUMBER_DIGITS_MIN = 2
NUMBER_DIGITS_MAX = 32
PAGE_MAX = 500

# Characters people put in phone numbers for readability; removed by normalisation.
_SEPARATORS = re.compile(r"[\s\-().\u00a0/]")
_NUMBER_RE = re.compile(rf"\+?[0-9]{{{NUMBER_DIGITS_MIN},{NUMBER_DIGITS_MAX}}}")


class NoSuchContact(StoreError):
    """No contact has this id (in the book the caller looked in)."""

    def __init__(self, contact_id: int) -> None:
        super().__init__(f"no contact {contact_id}")
        self.contact_id = contact_id


@dataclass(frozen=True)
class ContactNumber:
    """One number of a contact; `number` is normalised (digits, optionally a leading '+')."""

    number: str
    label: str = "work"


@dataclass(frozen=True, kw_only=True)
class Contact:
    """A phonebook entry. `owner` None: company phonebook; otherwise the extension whose contact it is."""

    first_name: str = ""
    last_name: str = ""
    company: str = ""
    email: str | None = None
    numbers: tuple[ContactNumber, ...] = ()
    owner: str | None = None
    id: int | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def display_name(self) -> str:
        """"First Last", else the company, else the first number (what a phone shows as caller name)."""
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        return name or self.company or (self.numbers[0].number if self.numbers else "")


def normalize_number(text: str) -> str:
    """Remove spaces, dashes, dots, slashes and parentheses; keep digits and a leading '+'.

    Raises InvalidValue when what is left is not 2-32 digits (optionally after '+'). A national
    "00" prefix is kept as typed: turning it into '+' needs the box's country, which is routing's job.
    """
    if not isinstance(text, str):
        raise InvalidValue("number", "must be text")
    cleaned = _SEPARATORS.sub("", text)
    if not _NUMBER_RE.fullmatch(cleaned):
        raise InvalidValue(
            "number",
            f"{text.strip()!r} is not a phone number ({NUMBER_DIGITS_MIN} to {NUMBER_DIGITS_MAX} digits, "
            "optionally starting with +)",
        )
    return cleaned


def _text(field_name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidValue(field_name, "must be text")
    value = value.strip()
    if len(value) > NAME_FIELD_MAX:
        raise InvalidValue(field_name, f"must be at most {NAME_FIELD_MAX} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidValue(field_name, "must not contain control characters")
    return value


def validate_contact(contact: Contact) -> Contact:
    """Return the contact with trimmed names and normalised numbers; raise InvalidValue naming the field."""
    first = _text("first_name", contact.first_name)
    last = _text("last_name", contact.last_name)
    company = _text("company", contact.company)
    if not (first or last or company):
        raise InvalidValue("first_name", "give a first name, a last name or a company")
    email = validate_email(contact.email)
    if not contact.numbers:
        raise InvalidValue("numbers", "give at least one number")
    if len(contact.numbers) > NUMBERS_MAX:
        raise InvalidValue("numbers", f"at most {NUMBERS_MAX} numbers per contact")
    numbers = []
    for entry in contact.numbers:
        if entry.label not in NUMBER_LABELS:
            raise InvalidValue("numbers", f"label must be one of {', '.join(NUMBER_LABELS)}")
        numbers.append(ContactNumber(normalize_number(entry.number), entry.label))
    return Contact(
        first_name=first, last_name=last, company=company, email=email, numbers=tuple(numbers),
        owner=contact.owner, id=contact.id, created_at=contact.created_at, updated_at=contact.updated_at,
    )


@dataclass
class ContactPage:
    """One page of a listing and the total the filters match."""

    contacts: list[Contact]
    total: int
    offset: int = 0
    limit: int = 50
    extra: dict[str, Any] = field(default_factory=dict)


class ContactStore:
    """CRUD and search over both books. `owner=None` addresses the company phonebook."""

    def __init__(self, db: Database, *, clock: Clock = time.time) -> None:
        self._db = db
        self._clock = clock

    # -- writes -----------------------------------------------------------------------------------------

    def add(self, contact: Contact) -> Contact:
        """Store a new contact in `contact.owner`'s book; returns it with its id."""
        return self.add_many([contact])[0]

    def add_many(self, contacts: Iterable[Contact]) -> list[Contact]:
        """Store several contacts in one transaction (CSV import): all or none."""
        clean = [validate_contact(c) for c in contacts]
        now = self._clock()
        stored: list[Contact] = []
        try:
            with transaction(self._db):
                for c in clean:
                    cursor = self._db.conn.execute(
                        "INSERT INTO contacts (owner, first_name, last_name, company, email, created_at,"
                        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (c.owner, c.first_name, c.last_name, c.company, c.email, now, now),
                    )
                    contact_id = int(cursor.lastrowid or 0)
                    self._write_numbers(contact_id, c.numbers)
                    stored.append(_replace(c, id=contact_id, created_at=now, updated_at=now))
        except sqlite3.IntegrityError as err:  # owner is not an extension (foreign key)
            raise InvalidValue("owner", f"no extension {clean[len(stored)].owner}") from err
        return stored

    def update(self, contact: Contact) -> Contact:
        """Replace names, email and numbers of contact `contact.id` in book `contact.owner`."""
        if contact.id is None:
            raise InvalidValue("id", "a contact to update needs its id")
        c = validate_contact(contact)
        now = self._clock()
        with transaction(self._db):
            cursor = self._db.conn.execute(
                "UPDATE contacts SET first_name = ?, last_name = ?, company = ?, email = ?, updated_at = ?"
                " WHERE id = ? AND owner IS ?",
                (c.first_name, c.last_name, c.company, c.email, now, c.id, c.owner),
            )
            if cursor.rowcount == 0:
                raise NoSuchContact(contact.id)
            self._db.conn.execute("DELETE FROM contact_numbers WHERE contact_id = ?", (c.id,))
            self._write_numbers(c.id, c.numbers)
        return self.get(c.id, owner=c.owner)

    def delete(self, contact_id: int, *, owner: str | None) -> None:
        """Remove a contact of `owner`'s book (None: company); raises NoSuchContact."""
        with transaction(self._db):
            cursor = self._db.conn.execute(
                "DELETE FROM contacts WHERE id = ? AND owner IS ?", (contact_id, owner)
            )
            if cursor.rowcount == 0:
                raise NoSuchContact(contact_id)

    def _write_numbers(self, contact_id: int, numbers: Sequence[ContactNumber]) -> None:
        self._db.conn.executemany(
            "INSERT INTO contact_numbers (contact_id, position, label, number) VALUES (?, ?, ?, ?)",
            [(contact_id, i, n.label, n.number) for i, n in enumerate(numbers)],
        )

    # -- reads ------------------------------------------------------------------------------------------

    def get(self, contact_id: int, *, owner: str | None) -> Contact:
        """One contact of `owner`'s book; a contact of another book is NoSuchContact too."""
        row = self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM contacts WHERE id = ? AND owner IS ?", (contact_id, owner)
        ).fetchone()
        if row is None:
            raise NoSuchContact(contact_id)
        return self._with_numbers([row])[0]

    def search(
        self, *, owner: str | None, query: str = "", limit: int = 50, offset: int = 0
    ) -> ContactPage:
        """A page of `owner`'s book sorted by last then first name; `query` matches any part of a name,
        company, email or number (a number query ignores separators)."""
        if not 0 < limit <= PAGE_MAX:
            raise InvalidValue("limit", f"must be between 1 and {PAGE_MAX}")
        if offset < 0:
            raise InvalidValue("offset", "must not be negative")
        where, params = _search_filter(owner, query)
        total = self._db.conn.execute(f"SELECT count(*) FROM contacts WHERE {where}", params).fetchone()[0]
        rows = self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM contacts WHERE {where} "
            "ORDER BY last_name COLLATE NOCASE, first_name COLLATE NOCASE, company COLLATE NOCASE, id "
            "LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        return ContactPage(self._with_numbers(rows), int(total), offset, limit)

    def numbers_in_book(self, owner: str | None) -> set[str]:
        """Every number of one book (for refusing duplicates on import)."""
        rows = self._db.conn.execute(
            "SELECT n.number FROM contact_numbers n JOIN contacts c ON c.id = n.contact_id WHERE c.owner IS ?",
            (owner,),
        ).fetchall()
        return {row[0] for row in rows}

    def name_for_number(self, number: str, *, extension: str | None = None) -> str | None:
        """The caller name to show for `number`: the called extension's own contact first, then the
        company phonebook; None when nobody has it (or it is not a number)."""
        try:
            wanted = normalize_number(number)
        except InvalidValue:
            return None
        owners: list[str | None] = ([extension] if extension else []) + [None]
        for owner in owners:
            # Driven by the number index: a lookup per call must not walk the whole phonebook.
            row = self._db.conn.execute(
                f"SELECT {', '.join('c.' + name for name in _FIELD_NAMES)} FROM contact_numbers n "
                "CROSS JOIN contacts c ON c.id = n.contact_id WHERE n.number = ? AND c.owner IS ? "
                "ORDER BY c.id LIMIT 1",
                (wanted, owner),
            ).fetchone()
            if row is not None:
                return self._with_numbers([row])[0].display_name
        return None

    def version(self) -> int:
        """Change counter of the contacts (bumped by every committed write; pbxd may cache names)."""
        return change_version(self._db, "contacts")

    def _with_numbers(self, rows: Sequence[Sequence[Any]]) -> list[Contact]:
        contacts = [dict(zip(_FIELD_NAMES, row)) for row in rows]
        ids = [c["id"] for c in contacts]
        numbers: dict[int, list[ContactNumber]] = {i: [] for i in ids}
        if ids:
            marks = ", ".join("?" for _ in ids)
            for contact_id, label, number in self._db.conn.execute(
                f"SELECT contact_id, label, number FROM contact_numbers WHERE contact_id IN ({marks})"
                " ORDER BY contact_id, position",
                ids,
            ):
                numbers[contact_id].append(ContactNumber(number, label))
        return [Contact(**c, numbers=tuple(numbers[c["id"]])) for c in contacts]


_FIELD_NAMES = ["id", "owner", "first_name", "last_name", "company", "email", "created_at", "updated_at"]
_COLUMNS = ", ".join(_FIELD_NAMES)


def _like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with the wildcards in it taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _search_filter(owner: str | None, query: str) -> tuple[str, list[Any]]:
    clauses, params = ["owner IS ?"], [owner]
    query = (query or "").strip()
    if query:
        pattern = _like(query)
        terms = [
            "first_name LIKE ? ESCAPE '\\'",
            "last_name LIKE ? ESCAPE '\\'",
            "company LIKE ? ESCAPE '\\'",
            "email LIKE ? ESCAPE '\\'",
            "(first_name || ' ' || last_name) LIKE ? ESCAPE '\\'",
        ]
        params += [pattern] * len(terms)
        digits = _SEPARATORS.sub("", query)
        if digits and re.fullmatch(r"\+?[0-9]+", digits):
            terms.append("id IN (SELECT contact_id FROM contact_numbers WHERE number LIKE ? ESCAPE '\\')")
            params.append(_like(digits))
        clauses.append("(" + " OR ".join(terms) + ")")
    return " AND ".join(clauses), params


def _replace(contact: Contact, **changes: Any) -> Contact:
    values = {name: getattr(contact, name) for name in Contact.__dataclass_fields__}
    values.update(changes)
    return Contact(**values)
