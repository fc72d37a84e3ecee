"""Per-caller voicemail rules: which greeting a caller hears and how the owner is told of the message.

A mailbox keeps an ordered list of rules (3CX "rules per caller ID or group of caller IDs"): each matches
a calling number (exactly, or by prefix with a trailing '*') or a contact group ("Customers"), and names
an alternative greeting and/or a notification action. The first rule that matches decides; a rule that
leaves one of the two open (NULL) falls back to the mailbox's own setting for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from appliance.store.contact_groups import ContactGroups, validate_group_name
from appliance.store.contacts import normalize_number
from appliance.store.db import transaction
from appliance.store.exceptions import InvalidValue

from .exceptions import InvalidMailboxValue, NoSuchMailbox, VoicemailError
from .storage import Mailbox

MATCH_KINDS = ("number", "group")
EMAIL_ACTIONS = ("attach", "notice", "none", "sms")
RULES_PER_MAILBOX_MAX = 50
#: Greeting names a rule may point to: the recorded kinds (storage.GREETING_KINDS) or a named extra one.
_GREETING_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


class NoSuchRule(VoicemailError):
    def __init__(self, rule_id: int):
        super().__init__(f"no caller rule {rule_id}")
        self.rule_id = rule_id


@dataclass(frozen=True, kw_only=True)
class CallerRule:
    id: int
    mailbox: str
    position: int
    match_kind: str  # "number" or "group"
    match_value: str  # a normalised number, a prefix ending in '*', or a group name
    greeting: str | None = None  # None: the mailbox's usual greeting
    email_action: str | None = None  # None: the mailbox's usual notification


@dataclass(frozen=True)
class RuleDecision:
    """What to do for one caller: the greeting to play (None: the usual one) and the notification."""

    greeting: str | None
    email_action: str  # "attach", "notice", "none" or "sms"
    rule_id: int | None = None  # the rule that decided, None for the mailbox default


def default_action(mailbox: Mailbox) -> str:
    """The mailbox's own notification: attach when e-mail with audio is on, notice without audio, else none."""
    if not mailbox.email_on_new:
        return "none"
    return "attach" if mailbox.attach_audio else "notice"


def notification_address(mailbox: Mailbox, extension: Any | None) -> str | None:
    """Where a mailbox's e-mail goes: a personal mailbox's extension's address (the mailbox's own
    address if the extension has none), a shared mailbox's own; None when there is none."""
    if mailbox.kind == "personal" and extension is not None and getattr(extension, "email", None):
        return str(extension.email)
    return mailbox.email or None


def validate_rule(
    match_kind: Any, match_value: Any, greeting: Any, email_action: Any
) -> tuple[str, str, str | None, str | None]:
    """Check one rule's fields; returns them cleaned (numbers normalised); raises InvalidMailboxValue."""
    if match_kind not in MATCH_KINDS:
        raise InvalidMailboxValue("match_kind", f"must be one of {', '.join(MATCH_KINDS)}")
    if not isinstance(match_value, str) or not match_value.strip():
        raise InvalidMailboxValue("match_value", "give a caller number or a contact group")
    try:
        if match_kind == "number":
            value = _number_pattern(match_value.strip())
        else:
            value = validate_group_name(match_value)
    except InvalidValue as err:
        raise InvalidMailboxValue("match_value", err.message) from err
    if greeting is not None and greeting != "":
        if not isinstance(greeting, str) or not _GREETING_RE.fullmatch(greeting):
            raise InvalidMailboxValue("greeting", "must be a greeting name (lower-case letters, digits, - and _)")
    else:
        greeting = None
    if email_action is not None and email_action != "":
        if email_action not in EMAIL_ACTIONS:
            raise InvalidMailboxValue("email_action", f"must be one of {', '.join(EMAIL_ACTIONS)}")
    else:
        email_action = None
    if greeting is None and email_action is None:
        raise InvalidMailboxValue("greeting", "a rule must choose a greeting, a notification, or both")
    return match_kind, value, greeting, email_action


def _number_pattern(text: str) -> str:
    """A normalised number, or a normalised prefix followed by '*' ('*' alone matches every caller)."""
    if not text.endswith("*"):
        return normalize_number(text)
    prefix = text[:-1]
    if sum(c.isdigit() for c in prefix) >= 2:
        return normalize_number(prefix) + "*"
    # normalize_number wants two digits; a prefix may be shorter ('0*', '+*', '*')
    cleaned = "".join(c for c in prefix if c.isdigit() or c == "+")
    if not re.fullmatch(r"\+?[0-9]?", cleaned) or any(not (c.isdigit() or c in "+ -().") for c in prefix):
        raise InvalidValue("number", f"{prefix!r} is not the start of a phone number")
    return cleaned + "*"


def number_matches(pattern: str, caller: str) -> bool:
    """An exact normalised number, or a prefix when the pattern ends with '*' ('*' alone: anyone)."""
    if pattern.endswith("*"):
        return caller.startswith(pattern[:-1])
    return caller == pattern


_COLUMNS = "id, mailbox, position, match_kind, match_value, greeting, email_action"


class CallerRules:
    """The ordered rules of every mailbox, and the decision for one caller."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._groups = ContactGroups(db)

    # -- reads ------------------------------------------------------------------------------------------

    def list(self, mailbox: str) -> list[CallerRule]:
        """A mailbox's rules in the order they are tried."""
        rows = self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM voicemail_caller_rules WHERE mailbox = ? ORDER BY position, id", (mailbox,)
        ).fetchall()
        return [CallerRule(**dict(zip(_COLUMNS.split(", "), row))) for row in rows]

    def get(self, rule_id: int) -> CallerRule:
        row = self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM voicemail_caller_rules WHERE id = ?", (rule_id,)
        ).fetchone()
        if row is None:
            raise NoSuchRule(rule_id)
        return CallerRule(**dict(zip(_COLUMNS.split(", "), row)))

    def decide(self, mailbox: Mailbox, caller_number: str | None) -> RuleDecision:
        """The first rule matching the caller decides; otherwise the mailbox's defaults.

        Group rules count the company phonebook for every mailbox and personal contacts only for the
        owner's mailbox (a shared mailbox has no personal contacts).
        """
        default = default_action(mailbox)
        rules = self.list(mailbox.number)
        if not rules or not caller_number:
            return RuleDecision(None, default)
        try:
            caller = normalize_number(caller_number)
        except InvalidValue:
            return RuleDecision(None, default)  # anonymous or not a number: no rule can match
        groups: set[str] | None = None
        owner = mailbox.number if mailbox.kind == "personal" else None
        for rule in rules:
            if rule.match_kind == "number":
                matched = number_matches(rule.match_value, caller)
            else:
                if groups is None:  # one query, and only when a group rule is reached
                    groups = self._groups.groups_of_number(caller, owner=owner)
                matched = rule.match_value.casefold() in groups
            if matched:
                return RuleDecision(rule.greeting, rule.email_action or default, rule.id)
        return RuleDecision(None, default)

    # -- writes -----------------------------------------------------------------------------------------

    def add(self, mailbox: str, match_kind: str, match_value: str, *, greeting: str | None = None,
            email_action: str | None = None, position: int | None = None) -> CallerRule:
        """Add a rule at `position` (0 = tried first; None = last)."""
        self._check_mailbox(mailbox)
        kind, value, greeting, email_action = validate_rule(match_kind, match_value, greeting, email_action)
        with transaction(self._db):
            ids = [r.id for r in self.list(mailbox)]
            if len(ids) >= RULES_PER_MAILBOX_MAX:
                raise InvalidMailboxValue("rules", f"at most {RULES_PER_MAILBOX_MAX} rules per mailbox")
            cursor = self._db.conn.execute(
                "INSERT INTO voicemail_caller_rules (mailbox, position, match_kind, match_value, greeting,"
                " email_action) VALUES (?, ?, ?, ?, ?, ?)",
                (mailbox, len(ids), kind, value, greeting, email_action),
            )
            new_id = int(cursor.lastrowid or 0)
            if position is not None:
                ids.insert(max(0, min(position, len(ids))), new_id)
                self._write_order(ids)
        return self.get(new_id)

    def update(self, rule_id: int, **changes: Any) -> CallerRule:
        """Change match_kind, match_value, greeting and/or email_action of one rule."""
        unknown = sorted(set(changes) - {"match_kind", "match_value", "greeting", "email_action"})
        if unknown:
            raise InvalidMailboxValue(unknown[0], "cannot be changed")
        current = self.get(rule_id)
        merged = {"match_kind": current.match_kind, "match_value": current.match_value,
                  "greeting": current.greeting, "email_action": current.email_action, **changes}
        kind, value, greeting, action = validate_rule(merged["match_kind"], merged["match_value"],
                                                      merged["greeting"], merged["email_action"])
        with transaction(self._db):
            self._db.conn.execute(
                "UPDATE voicemail_caller_rules SET match_kind = ?, match_value = ?, greeting = ?, email_action = ?"
                " WHERE id = ?", (kind, value, greeting, action, rule_id))
        return self.get(rule_id)

    def delete(self, rule_id: int) -> None:
        rule = self.get(rule_id)
        with transaction(self._db):
            self._db.conn.execute("DELETE FROM voicemail_caller_rules WHERE id = ?", (rule_id,))
            self._write_order([r.id for r in self.list(rule.mailbox)])

    def reorder(self, mailbox: str, rule_ids: list[int]) -> list[CallerRule]:
        """Set the order of a mailbox's rules; `rule_ids` must name each of its rules exactly once."""
        with transaction(self._db):
            current = [r.id for r in self.list(mailbox)]
            if sorted(rule_ids) != sorted(current):
                raise InvalidMailboxValue("order", f"must list each rule of mailbox {mailbox} exactly once")
            self._write_order(list(rule_ids))
        return self.list(mailbox)

    def _write_order(self, ids: list[int]) -> None:
        self._db.conn.executemany("UPDATE voicemail_caller_rules SET position = ? WHERE id = ?",
                                  [(i, rule_id) for i, rule_id in enumerate(ids)])

    def _check_mailbox(self, mailbox: str) -> None:
        row = self._db.conn.execute(
            "SELECT 1 FROM mailboxes WHERE number = ? UNION ALL SELECT 1 FROM extensions WHERE number = ?",
            (mailbox, mailbox)).fetchone()
        if row is None:
            raise NoSuchMailbox(mailbox)
