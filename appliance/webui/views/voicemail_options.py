"""Voicemail options of a mailbox (on/off, announcements, e-mail, language, limits), its PIN, and its
per-caller rules (number, prefix or contact group -> greeting and notification), posted from the
mailbox page. Each form posts on its own; an error re-renders the page with that form as typed.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, redirect, request

from appliance.store import transaction
from appliance.store.exceptions import InvalidValue
from appliance.store.extensions import validate_language, validate_voicemail_pin
from appliance.voicemail.exceptions import InvalidMailboxValue, NoSuchMailbox
from appliance.voicemail.rules import NoSuchRule
from appliance.voicemail.storage import Mailbox
from appliance.webui import db as webdb
from appliance.webui import vm
from appliance.webui.forms import Form
from appliance.webui.security import current_user, login_required

log = logging.getLogger(__name__)

bp = Blueprint("voicemail_options", __name__, url_prefix="/voicemail")

OPTION_FIELDS = ["email_mode", "language", "max_messages", "max_seconds", *vm.RETENTION_FIELDS]
OPTION_CHECKBOXES = ["voicemail_enabled", "on_busy", "on_no_answer", "on_unavailable", "announce_caller",
                     "announce_time"]
RULE_FIELDS = ["match_kind", "match_value", "greeting", "email_action"]


@bp.route("/<number>/options", methods=["POST"], endpoint="options")
@login_required
def options(number: str):  # noqa: ANN201
    box = vm.open_mailbox(number)
    if box.kind != "personal":
        abort(404)  # a shared mailbox is edited on the administrator's shared mailbox form
    is_admin = current_user().is_admin
    form = Form.from_request(request.form, OPTION_FIELDS, checkboxes=OPTION_CHECKBOXES)
    mode = form.text("email_mode")
    if mode not in {value for value, _ in vm.EMAIL_MODES}:
        form.error("email_mode", "Choose how you are told of new messages.")
    language = form.check("language", lambda: validate_language(form.text("language")))
    changes: dict[str, Any] = {"on_busy": bool(form.get("on_busy")), "on_no_answer": bool(form.get("on_no_answer")),
                               "on_unavailable": bool(form.get("on_unavailable")),
                               "announce_caller": bool(form.get("announce_caller")),
                               "announce_time": bool(form.get("announce_time")),
                               "email_on_new": mode in ("attach", "notice"), "attach_audio": mode == "attach",
                               "language": language}
    if is_admin:  # limits and retention are the box's storage policy: the administrator's to set
        changes.update(vm.check_limits(form))
        changes.update(vm.check_retention(form))
    else:
        form.values.update(max_messages=str(box.max_messages), max_seconds=str(box.max_seconds),
                           **vm.retention_values(box))
    if not form.ok:
        return vm.render_mailbox(box, 400, options=form)
    extensions = webdb.extensions()
    enabled = bool(form.get("voicemail_enabled"))
    ext = extensions.find(number)
    with transaction(webdb.get_db()):
        vm.store().update(number, **changes)
        if ext is not None and ext.voicemail_enabled != enabled:
            extensions.update(number, voicemail_enabled=enabled)
    if ext is not None and ext.voicemail_enabled != enabled:
        webdb.pbx().reload()
    log.info("%s changed the voicemail options of %s", current_user().account, number)
    flash("Voicemail options saved.", "success")
    if changes["email_on_new"] and ext is not None and not ext.email:
        flash("There is no e-mail address for this extension yet: set one in the settings to get e-mails.", "warn")
    return redirect(vm.home(number))


@bp.route("/<number>/pin", methods=["POST"], endpoint="pin")
@login_required
def pin(number: str):  # noqa: ANN201
    box = vm.open_mailbox(number)
    form = Form.from_request(request.form, ["pin", "pin_confirm"])
    value = form.check("pin", lambda: validate_voicemail_pin(str(form.get("pin"))))
    if value is not None and form.get("pin_confirm") != value:
        form.error("pin_confirm", "The two PINs differ.")
    form.values.update(pin="", pin_confirm="")  # a PIN is never sent back
    if not form.ok or value is None:
        return vm.render_mailbox(box, 400, pin=form)
    _set_pin(box, value)
    log.info("%s changed the PIN of mailbox %s", current_user().account, number)
    flash("Voicemail PIN changed.", "success")
    return redirect(vm.home(number))


def _set_pin(box: Mailbox, value: str) -> None:
    if box.kind == "shared":
        vm.store().set_shared_pin(box.number, value)
    else:
        webdb.extensions().set_voicemail_pin(box.number, value)


# -- caller rules ------------------------------------------------------------------------------------------


def _own_rule(box: Mailbox, rule_id: int) -> Any:
    try:
        rule = vm.rules().get(rule_id)
    except NoSuchRule:
        abort(404)
    if rule.mailbox != box.number:
        abort(404)
    return rule


@bp.route("/<number>/rules", methods=["POST"], endpoint="add_rule")
@login_required
def add_rule(number: str):  # noqa: ANN201
    box = vm.open_mailbox(number)
    form = Form.from_request(request.form, RULE_FIELDS)
    greeting = form.text("greeting")
    if greeting and vm.GREETING_NAME.fullmatch(greeting) and vm.store().greeting(box.number, greeting) is None:
        form.error("greeting", "Record or upload this greeting first.")
    if form.ok:
        try:
            vm.rules().add(box.number, form.text("match_kind"), form.text("match_value"),
                           greeting=greeting or None, email_action=form.text("email_action") or None)
        except InvalidMailboxValue as err:
            form.error(err.field if err.field in RULE_FIELDS else "match_value", vm.sentence(err.message))
        except (InvalidValue, NoSuchMailbox) as err:
            form.error("match_value", vm.sentence(str(err)))
    if not form.ok:
        return vm.render_mailbox(box, 400, rule=form)
    log.info("%s added a caller rule to mailbox %s", current_user().account, number)
    flash("Caller rule added.", "success")
    return redirect(vm.home(number) + "#rules")


@bp.route("/<number>/rules/<int:rule_id>/delete", methods=["POST"], endpoint="delete_rule")
@login_required
def delete_rule(number: str, rule_id: int):  # noqa: ANN201
    box = vm.open_mailbox(number)
    _own_rule(box, rule_id)
    vm.rules().delete(rule_id)
    flash("Caller rule deleted.", "success")
    return redirect(vm.home(number) + "#rules")


@bp.route("/<number>/rules/<int:rule_id>/move", methods=["POST"], endpoint="move_rule")
@login_required
def move_rule(number: str, rule_id: int):  # noqa: ANN201
    box = vm.open_mailbox(number)
    _own_rule(box, rule_id)
    direction = request.form.get("direction")
    if direction not in ("up", "down"):
        abort(400, description="Move a rule up or down.")
    order = [rule.id for rule in vm.rules().list(box.number)]
    at = order.index(rule_id)
    to = at - 1 if direction == "up" else at + 1
    if 0 <= to < len(order):
        order[at], order[to] = order[to], order[at]
        vm.rules().reorder(box.number, order)
    return redirect(vm.home(number) + "#rules")
