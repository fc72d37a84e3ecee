"""Administrator: extensions - create, edit (every field, web password and voicemail PIN), delete."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from appliance.store import ExtensionExists, NoSuchExtension, transaction
from appliance.store.bootstrap import generate_secret
from appliance.store.extensions import (
    LANGUAGES,
    Extension,
    validate_fields,
    validate_voicemail_pin,
    validate_web_password,
)
from appliance.store.exceptions import InvalidValue
from appliance.webui import db as webdb
from appliance.webui.forms import Form
from appliance.webui.pbx import PbxRefused, PbxUnavailable
from appliance.webui.security import admin_required

log = logging.getLogger(__name__)

bp = Blueprint("admin_extensions", __name__, url_prefix="/admin/extensions")

TEXT_FIELDS = ["number", "name", "secret", "email", "department", "language", "web_password", "voicemail_pin"]
#: Flags stored as they are ticked. `operator` lets the extension keep the contacts (company phonebook, every
#: personal book) from the portal; `record_calls` asks pbxd to record every call of the extension.
FLAGS = ["enabled", "dnd", "voicemail_enabled", "operator", "record_calls"]
CHECKBOXES = [*FLAGS, "remove_web_password"]
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "ru": "Russian"}


def _language_choices() -> list[tuple[str, str]]:
    return [("", "Box default")] + [(code, LANGUAGE_NAMES.get(code, code)) for code in LANGUAGES]


@bp.route("/", endpoint="index")
@admin_required
def index():  # noqa: ANN201
    statuses: dict[str, str] = {}
    daemon_error = None
    try:
        statuses = {e["number"]: e["status"] for e in webdb.pbx().status().get("extensions") or []}
    except (PbxUnavailable, PbxRefused) as err:
        daemon_error = str(err)
    return render_template("admin/extensions.html", extensions=webdb.extensions().list(), statuses=statuses,
                           daemon_error=daemon_error)


def _form_for(ext: Extension) -> Form:
    return Form({
        "number": ext.number, "name": ext.name, "secret": ext.secret, "email": ext.email or "",
        "department": ext.department or "", "language": ext.language or "", "web_password": "",
        "voicemail_pin": "", "enabled": ext.enabled, "dnd": ext.dnd, "voicemail_enabled": ext.voicemail_enabled,
        "operator": ext.operator, "record_calls": ext.record_calls, "remove_web_password": False,
    })


def _validate(form: Form, *, creating: bool) -> dict[str, Any] | None:
    """Field values for the store, or None with the errors recorded next to their fields."""
    values: dict[str, Any] = {}
    names = ["name", "secret", "email", "department", "language"] + (["number"] if creating else [])
    for name in names:
        result = form.check(name, lambda n=name: validate_fields(**{n: form.text(n)}))
        if result is not None:
            values.update(result)
    for flag in FLAGS:
        values[flag] = bool(form.get(flag))
    web_password = str(form.get("web_password") or "")
    if web_password:
        form.check("web_password", lambda: validate_web_password(web_password))
    pin = form.text("voicemail_pin")
    if pin:
        form.check("voicemail_pin", lambda: validate_voicemail_pin(pin))
    return values if form.ok else None


def _save(number: str, values: dict[str, Any], form: Form, *, creating: bool) -> None:
    store = webdb.extensions()
    with transaction(webdb.get_db()):
        if creating:
            store.add(number, values.pop("name"), values.pop("secret"), email=values.pop("email"),
                      department=values.pop("department"), enabled=values.pop("enabled"))
        values.pop("number", None)
        store.update(number, **values)
        if form.get("remove_web_password"):
            store.set_web_password(number, None)
        elif form.get("web_password"):
            store.set_web_password(number, str(form.get("web_password")))
        if form.text("voicemail_pin"):
            store.set_voicemail_pin(number, form.text("voicemail_pin"))
    webdb.pbx().reload()


@bp.route("/new", methods=["GET", "POST"], endpoint="new")
@admin_required
def new():  # noqa: ANN201
    form = Form({"number": "", "name": "", "secret": generate_secret(), "email": "", "department": "",
                 "language": "", "web_password": "", "voicemail_pin": "", "enabled": True, "dnd": False,
                 "voicemail_enabled": True, "operator": False, "record_calls": False,
                 "remove_web_password": False})
    if request.method == "POST":
        form = Form.from_request(request.form, TEXT_FIELDS, checkboxes=CHECKBOXES)
        values = _validate(form, creating=True)
        if values is not None:
            try:
                _save(values["number"], values, form, creating=True)
            except ExtensionExists:
                form.error("number", "This extension already exists.")
            except InvalidValue as err:
                form.error(err.field if err.field in TEXT_FIELDS else "number", err.message)
            else:
                log.info("admin created extension %s", form.text("number"))
                flash(f"Extension {form.text('number')} created.", "success")
                return redirect(url_for("admin_extensions.index"))
        form.values.update(web_password="", voicemail_pin="")
    return render_template("admin/extension_form.html", form=form, ext=None,
                           languages=_language_choices()), 400 if form.errors else 200


@bp.route("/<number>/edit", methods=["GET", "POST"], endpoint="edit")
@admin_required
def edit(number: str):  # noqa: ANN201
    ext = webdb.extensions().find(number)
    if ext is None:
        abort(404)
    form = _form_for(ext)
    if request.method == "POST":
        form = Form.from_request(request.form, TEXT_FIELDS, checkboxes=CHECKBOXES)
        form.values["number"] = number
        values = _validate(form, creating=False)
        if values is not None:
            try:
                _save(number, values, form, creating=False)
            except NoSuchExtension:
                abort(404)
            except InvalidValue as err:
                form.error(err.field if err.field in TEXT_FIELDS else "name", err.message)
            else:
                log.info("admin changed extension %s", number)
                flash(f"Extension {number} saved.", "success")
                return redirect(url_for("admin_extensions.index"))
        form.values.update(web_password="", voicemail_pin="")
    return render_template("admin/extension_form.html", form=form, ext=ext,
                           languages=_language_choices()), 400 if form.errors else 200


@bp.route("/<number>/delete", methods=["POST"], endpoint="delete")
@admin_required
def delete(number: str):  # noqa: ANN201
    try:
        webdb.extensions().delete(number)
    except NoSuchExtension:
        abort(404)
    webdb.pbx().reload()
    log.info("admin deleted extension %s", number)
    flash(f"Extension {number} deleted.", "success")
    return redirect(url_for("admin_extensions.index"))
