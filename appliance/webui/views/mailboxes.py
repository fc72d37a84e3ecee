"""Administrator: shared mailboxes (PortSIP "shared voicemail": number, display name, prompt language,
PIN, e-mail, "require PIN", "e-mail on new message"), every mailbox's counts, and the notification log
(the e-mail/SMS queue) with "retry now". Messages of any mailbox are managed on its voicemail page.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from appliance.store import transaction
from appliance.store.extensions import validate_email, validate_language, validate_name
from appliance.voicemail.exceptions import InvalidMailboxValue, NoSuchMailbox
from appliance.voicemail.outbox import read_log
from appliance.voicemail.storage import Mailbox
from appliance.webui import db as webdb
from appliance.webui import vm
from appliance.webui.forms import Form
from appliance.webui.pbx import PbxRefused, PbxUnavailable
from appliance.webui.security import admin_required

log = logging.getLogger(__name__)

bp = Blueprint("mailboxes", __name__, url_prefix="/admin/mailboxes")

TEXT_FIELDS = ["number", "name", "language", "pin", "email", "max_messages", "max_seconds", *vm.RETENTION_FIELDS]
CHECKBOXES = ["require_pin", "email_on_new", "attach_audio", "announce_caller", "announce_time"]
LOG_LIMIT = 200


@bp.route("/", endpoint="index")
@admin_required
def index():  # noqa: ANN201
    store = vm.store()
    shared = [(box, store.count(box.number)) for box in store.shared_mailboxes()]
    personal = [(ext, store.count(ext.number)) for ext in webdb.extensions().list()]
    return render_template("mailboxes/index.html", shared=shared, personal=personal,
                           language_names=vm.LANGUAGE_NAMES)


def _languages() -> list[tuple[str, str]]:
    from appliance.store.extensions import LANGUAGES  # noqa: PLC0415

    return [("", "Box default")] + [(code, vm.LANGUAGE_NAMES.get(code, code)) for code in LANGUAGES]


def _form_for(box: Mailbox) -> Form:
    return Form({"number": box.number, "name": box.name, "language": box.language or "", "pin": "",
                 "email": box.email or "", "max_messages": str(box.max_messages),
                 "max_seconds": str(box.max_seconds), **vm.retention_values(box), "require_pin": box.require_pin,
                 "email_on_new": box.email_on_new, "attach_audio": box.attach_audio,
                 "announce_caller": box.announce_caller, "announce_time": box.announce_time})


def _validate(form: Form, *, creating: bool) -> dict[str, Any] | None:
    """Values for VoicemailStore.update (name … announce_time), or None with errors next to the fields."""
    values: dict[str, Any] = {}
    values["name"] = form.check("name", lambda: validate_name(form.text("name")))
    values["language"] = form.check("language", lambda: validate_language(form.text("language")))
    values["email"] = form.check("email", lambda: validate_email(form.text("email")))
    values.update(vm.check_limits(form))
    values.update(vm.check_retention(form))
    for name in CHECKBOXES:
        values[name] = bool(form.get(name))
    pin = form.text("pin")
    if creating and not pin:
        form.error("pin", "Give the mailbox a PIN (4 to 8 digits).")
    elif pin and not (pin.isdigit() and 4 <= len(pin) <= 8):
        form.error("pin", "Must be 4 to 8 digits.")
    if creating:
        number = form.text("number")
        if not (number.isdigit() and 2 <= len(number) <= 8):
            form.error("number", "Must be 2 to 8 digits.")
    if values["email_on_new"] and not values.get("email") and "email" not in form.errors:
        form.error("email", "Give the address that new messages are mailed to, or switch the e-mail off.")
    return values if form.ok else None


def _page(form: Form, box: Mailbox | None, status: int = 200) -> Any:
    return render_template("mailboxes/form.html", form=form, box=box, languages=_languages()), status


@bp.route("/new", methods=["GET", "POST"], endpoint="new")
@admin_required
def new():  # noqa: ANN201
    form = Form({"number": "", "name": "", "language": "", "pin": "", "email": "", "max_messages": "100",
                 "max_seconds": "180", "delete_read_after_days": "0", "delete_all_after_days": "0",
                 "require_pin": True, "email_on_new": True, "attach_audio": True,
                 "announce_caller": True, "announce_time": True})
    if request.method == "GET":
        return _page(form, None)
    form = Form.from_request(request.form, TEXT_FIELDS, checkboxes=CHECKBOXES)
    values = _validate(form, creating=True)
    if values is not None:
        number, store = form.text("number"), vm.store()
        try:
            with transaction(webdb.get_db()):
                store.create_shared(number, values["name"], form.text("pin"), email=values["email"],
                                    language=values["language"], require_pin=values["require_pin"],
                                    email_on_new=values["email_on_new"])
                store.update(number, **values)
        except InvalidMailboxValue as err:
            form.error(err.field if err.field in TEXT_FIELDS else "number", vm.sentence(err.message))
        else:
            log.info("admin created shared mailbox %s", number)
            flash(f"Shared mailbox {number} created.", "success")
            return redirect(url_for("mailboxes.index"))
    form.values["pin"] = ""
    return _page(form, None, 400)


def _shared_or_404(number: str) -> Mailbox:
    try:
        box = vm.store().mailbox(number)
    except NoSuchMailbox:
        abort(404)
    if box.kind != "shared":
        abort(404)
    return box


@bp.route("/<number>/edit", methods=["GET", "POST"], endpoint="edit")
@admin_required
def edit(number: str):  # noqa: ANN201
    box = _shared_or_404(number)
    if request.method == "GET":
        return _page(_form_for(box), box)
    form = Form.from_request(request.form, TEXT_FIELDS, checkboxes=CHECKBOXES)
    form.values["number"] = number
    values = _validate(form, creating=False)
    if values is not None:
        store = vm.store()
        try:
            with transaction(webdb.get_db()):
                store.update(number, **values)
                if form.text("pin"):
                    store.set_shared_pin(number, form.text("pin"))
        except InvalidMailboxValue as err:
            form.error(err.field if err.field in TEXT_FIELDS else "name", vm.sentence(err.message))
        else:
            log.info("admin changed shared mailbox %s", number)
            flash(f"Shared mailbox {number} saved.", "success")
            return redirect(url_for("mailboxes.index"))
    form.values["pin"] = ""
    return _page(form, box, 400)


@bp.route("/<number>/delete", methods=["POST"], endpoint="delete")
@admin_required
def delete(number: str):  # noqa: ANN201
    _shared_or_404(number)
    vm.store().delete_shared(number)
    webdb.pbx().voicemail_changed(number)
    log.info("admin deleted shared mailbox %s", number)
    flash(f"Shared mailbox {number} deleted with its messages.", "success")
    return redirect(url_for("mailboxes.index"))


# -- the notification log -----------------------------------------------------------------------------------


@bp.route("/notifications", endpoint="notifications")
@admin_required
def notifications():  # noqa: ANN201
    rows = read_log(webdb.get_db(), LOG_LIMIT)
    pending = sum(1 for row in rows if row["state"] == "pending")
    return render_template("mailboxes/notifications.html", rows=rows, pending=pending, limit=LOG_LIMIT)


@bp.route("/notifications/retry", methods=["POST"], endpoint="retry")
@admin_required
def retry():  # noqa: ANN201
    try:
        woken = webdb.pbx().mail_wake()
    except (PbxUnavailable, PbxRefused) as err:
        flash(f"Could not ask for a retry: {err}.", "error")
    else:
        if woken:
            log.info("admin asked pbxd to retry waiting notifications now")
            flash("Waiting notifications are being tried again now.", "success")
        else:
            flash("The telephony service sends no notifications (no outbox is running).", "warn")
    return redirect(url_for("mailboxes.notifications"))

