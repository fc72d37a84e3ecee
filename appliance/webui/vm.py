"""Voicemail in the web UI: which mailbox a user may open, the voicemail objects of a request, and the
mailbox page (messages, greetings, options, PIN, caller rules) that several views render.

An extension user opens only the mailbox of their own extension; the administrator opens every
extension's and every shared mailbox. Any other mailbox number is a 404, as is a message or rule of
another mailbox: nobody learns from the web UI that somebody else's mailbox holds something.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from flask import abort, current_app, render_template, request, url_for

from appliance.store.contact_groups import ContactGroups
from appliance.store.extensions import LANGUAGES
from appliance.voicemail.exceptions import NoSuchMailbox
from appliance.voicemail.rules import EMAIL_ACTIONS, CallerRules
from appliance.voicemail.storage import MAX_RETENTION_DAYS, Mailbox, VoicemailStore
from appliance.voicemail.web_api import MAX_GREETING_BYTES, MAX_GREETING_SECONDS, VoicemailWeb
from appliance.webui import db as webdb
from appliance.webui.forms import Form
from appliance.webui.security import current_user

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "ru": "Russian"}
#: Greetings a user records for the whole mailbox, in the order the page shows them.
STANDARD_GREETINGS = (
    ("unavailable", "Unavailable", "Played when you do not answer or are not registered."),
    ("busy", "Busy", "Played when you are on the phone (else the unavailable greeting)."),
    ("name", "Recorded name", "Spoken inside the system greeting when you have no greeting of your own."),
)
EMAIL_MODES = (("off", "No e-mail"), ("attach", "E-mail with the message attached (WAV)"),
               ("notice", "E-mail notice without audio"))
ACTION_NAMES = {"attach": "e-mail with audio", "notice": "e-mail notice", "none": "no notification",
                "sms": "SMS"}
#: Names of extra greetings (as VoicemailStore.greeting_path and the caller rules accept them).
GREETING_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
#: The part of a request body a greeting upload may use (the WAV plus the form fields around it).
UPLOAD_BODY_MAX = MAX_GREETING_BYTES + 256 * 1024


def sentence(message: str) -> str:
    """A store's message ("must be 4 to 8 digits") as shown next to a field."""
    text = message[:1].upper() + message[1:]
    return text if text.endswith(".") else text + "."


def store() -> VoicemailStore:
    """This request's voicemail store (the request's database connection, the data directory's files)."""
    return VoicemailStore(webdb.get_db(), webdb.datadir().voicemail_dir, clock=current_app.config["CLOCK"],
                          find_extension=webdb.extensions().find)


def _tell_pbxd(mailbox: str) -> None:
    webdb.pbx().voicemail_changed(mailbox)


def service() -> VoicemailWeb:
    """The voicemail web API; every change it makes tells pbxd (voicemail_changed) so lamps follow."""
    return VoicemailWeb(store(), notify=_tell_pbxd)


def rules() -> CallerRules:
    return CallerRules(webdb.get_db())


def open_mailbox(number: str) -> Mailbox:
    """The mailbox `number` if the current user may open it; 404 otherwise (also for other people's)."""
    user = current_user()
    if user is None:
        abort(401)
    if not user.is_admin and number != user.extension:
        log.warning("extension %s asked for mailbox %s", user.extension, number)
        abort(404)
    try:
        return store().mailbox(number)
    except NoSuchMailbox:
        abort(404)


def home(number: str) -> str:
    """Where to go back to after a change: the user's own "Voicemail" page, or the admin's mailbox page."""
    user = current_user()
    if user is not None and user.extension == number:
        return url_for("voicemail.index")
    return url_for("voicemail.mailbox", number=number)


def wants_json() -> bool:
    """A script (the player, the recorder) asked, rather than a form post."""
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def language_choices(mailbox: Mailbox, extension: Any | None) -> list[tuple[str, str]]:
    if mailbox.kind == "personal":
        follow = extension.language if extension is not None and extension.language else None
        first = f"Same as the extension ({LANGUAGE_NAMES.get(follow, follow)})" if follow else "Box default"
    else:
        first = "Box default"
    return [("", first)] + [(code, LANGUAGE_NAMES.get(code, code)) for code in LANGUAGES]


def email_mode(mailbox: Mailbox) -> str:
    if not mailbox.email_on_new:
        return "off"
    return "attach" if mailbox.attach_audio else "notice"


def options_form(mailbox: Mailbox, extension: Any | None) -> Form:
    return Form({
        "voicemail_enabled": bool(extension.voicemail_enabled) if extension is not None else True,
        "announce_caller": mailbox.announce_caller, "announce_time": mailbox.announce_time,
        "on_busy": mailbox.on_busy, "on_no_answer": mailbox.on_no_answer, "on_unavailable": mailbox.on_unavailable,
        "email_mode": email_mode(mailbox), "language": mailbox.language or "",
        "max_messages": str(mailbox.max_messages), "max_seconds": str(mailbox.max_seconds),
        **retention_values(mailbox),
    })


#: The size limits a mailbox form sets: (lowest, highest) for each field.
LIMITS = {"max_messages": (1, 10000), "max_seconds": (10, 3600)}


def check_limits(form: Form) -> dict[str, int | None]:
    """The size limits typed in `form` (each within LIMITS), errors next to the fields."""
    values: dict[str, int | None] = {}
    for name, (low, high) in LIMITS.items():
        try:
            value: int | None = int(form.text(name))
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            form.error(name, f"Give a whole number from {low} to {high}.")
        values[name] = value
    return values


#: Retention fields (days, 0 = keep) as the mailbox forms show them; the store enforces the same range.
RETENTION_FIELDS = ("delete_read_after_days", "delete_all_after_days")


def retention_values(mailbox: Mailbox) -> dict[str, str]:
    return {name: str(getattr(mailbox, name)) for name in RETENTION_FIELDS}


def check_retention(form: Form) -> dict[str, int | None]:
    """The retention days typed in `form`, each 0 (keep) to MAX_RETENTION_DAYS, errors next to the fields.

    An empty field is 0: clearing the number means "no limit"."""
    values: dict[str, int | None] = {}
    for name in RETENTION_FIELDS:
        text = form.text(name) or "0"
        days = int(text) if text.isascii() and text.isdigit() else None
        if days is None or days > MAX_RETENTION_DAYS:
            form.error(name, f"Give a whole number of days from 0 (keep) to {MAX_RETENTION_DAYS}.")
        values[name] = days
    return values


def retention_summary(mailbox: Mailbox) -> str:
    """One sentence on what the box deletes by itself from this mailbox."""
    read, every = mailbox.delete_read_after_days, mailbox.delete_all_after_days
    parts = []
    if read:
        parts.append(f"read messages {read} day{'s' if read != 1 else ''} after they were heard")
    if every:
        parts.append(f"every message {every} day{'s' if every != 1 else ''} after it came in")
    if not parts:
        return "Messages are kept until they are deleted."
    return "The box deletes " + " and ".join(parts) + "."


def _message_rows(mailbox: Mailbox) -> list[dict[str, Any]]:
    """The messages with the caller's name as the phonebook knows it now (an extension's name for an
    internal caller), else the name that came with the call."""
    contacts, extensions = webdb.contacts(), webdb.extensions()
    owner = mailbox.number if mailbox.kind == "personal" else None
    names: dict[str, str | None] = {}
    rows = []
    for message in service().messages(mailbox.number):
        caller = message["caller"]
        if caller not in names:
            ext = extensions.find(caller) if caller.isdigit() else None
            names[caller] = ext.name if ext is not None else (
                contacts.name_for_number(caller, extension=owner) if caller else None)
        rows.append({**message, "name": names[caller] or message["caller_name"] or ""})
    return rows


def _greeting_rows(api: VoicemailWeb, mailbox: Mailbox) -> list[dict[str, Any]]:
    present = api.greetings(mailbox.number)
    rows = [{"kind": kind, "label": label, "hint": hint, "present": present.get(kind, False), "custom": False}
            for kind, label, hint in STANDARD_GREETINGS]
    rows += [{"kind": name, "label": name, "hint": "For callers chosen by a caller rule.", "present": True,
              "custom": True} for name in api.named_greetings(mailbox.number)]
    return rows


def render_mailbox(mailbox: Mailbox, status: int = 200, **forms: Form) -> tuple[str, int]:
    """The whole mailbox page; `forms` replaces a section's form (what the user typed, and its errors)."""
    api = service()
    extension = webdb.extensions().find(mailbox.number) if mailbox.kind == "personal" else None
    greetings = _greeting_rows(api, mailbox)
    owner = mailbox.number if mailbox.kind == "personal" else None
    defaults: Mapping[str, Form] = {
        "options": options_form(mailbox, extension),
        "pin": Form({"pin": "", "pin_confirm": ""}),
        "upload": Form({"kind": "unavailable", "name": ""}),
        "rule": Form({"match_kind": "number", "match_value": "", "greeting": "", "email_action": ""}),
    }
    chosen = {name: forms.get(name) or form for name, form in defaults.items()}
    page = render_template(
        "voicemail/mailbox.html", mailbox=mailbox, extension=extension,
        own=current_user().extension == mailbox.number,
        messages=_message_rows(mailbox), counts=api.counts(mailbox.number), greetings=greetings,
        greeting_choices=[("", "The usual greeting")] + [(g["kind"], g["label"]) for g in greetings if g["present"]],
        action_choices=[("", "As the options say")] + [(a, ACTION_NAMES.get(a, a)) for a in EMAIL_ACTIONS],
        rules=rules().list(mailbox.number),
        groups=ContactGroups(webdb.get_db()).names(owner=owner), languages=language_choices(mailbox, extension),
        language_names=LANGUAGE_NAMES, email_modes=EMAIL_MODES, action_names=ACTION_NAMES,
        retention=retention_summary(mailbox), max_retention_days=MAX_RETENTION_DAYS,
        max_greeting_mib=MAX_GREETING_BYTES // (1024 * 1024), max_greeting_seconds=MAX_GREETING_SECONDS, **chosen)
    return page, status
