"""The extension user's own settings: DND, email, voicemail on/off, voicemail PIN, web password.

Three small forms, each posting on its own, so that an error in one keeps what was typed in it and
shows its message next to the field without touching the others.
"""

from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, render_template, request, url_for

from appliance.store.extensions import validate_email, validate_voicemail_pin, validate_web_password
from appliance.webui import db as webdb
from appliance.webui.forms import Form
from appliance.webui.views.auth import verify_current_password
from appliance.webui.security import current_user, extension_required, refresh_fingerprint

log = logging.getLogger(__name__)

bp = Blueprint("settings", __name__, url_prefix="/settings")


def _page(status: int = 200, **forms: Form):  # noqa: ANN202
    ext = webdb.extensions().get(current_user().extension)
    prefs = forms.get("prefs") or Form({"dnd": ext.dnd, "email": ext.email or "",
                                        "voicemail_enabled": ext.voicemail_enabled})
    pin = forms.get("pin") or Form({"pin": "", "pin_confirm": ""})
    password = forms.get("password") or Form({"current": "", "new": "", "confirm": ""})
    return render_template("settings/index.html", ext=ext, prefs=prefs, pin=pin, password=password), status


@bp.route("/", endpoint="index")
@extension_required
def index():  # noqa: ANN201
    return _page()


@bp.route("/preferences", methods=["POST"], endpoint="preferences")
@extension_required
def preferences():  # noqa: ANN201
    form = Form.from_request(request.form, ["email"], checkboxes=["dnd", "voicemail_enabled"])
    email = form.check("email", lambda: validate_email(form.text("email")))
    if not form.ok:
        return _page(400, prefs=form)
    number = current_user().extension
    webdb.extensions().update(number, dnd=form.get("dnd"), voicemail_enabled=form.get("voicemail_enabled"),
                              email=email)
    webdb.pbx().reload()
    log.info("extension %s changed its preferences in the portal", number)
    flash("Settings saved.", "success")
    return redirect(url_for("settings.index"))


@bp.route("/pin", methods=["POST"], endpoint="pin")
@extension_required
def pin():  # noqa: ANN201
    form = Form.from_request(request.form, ["pin", "pin_confirm"])
    value = form.check("pin", lambda: validate_voicemail_pin(str(form.get("pin"))))
    if value is not None and form.get("pin_confirm") != value:
        form.error("pin_confirm", "The two PINs differ.")
    if not form.ok:
        form.values.update(pin="", pin_confirm="")
        return _page(400, pin=form)
    webdb.extensions().set_voicemail_pin(current_user().extension, value)
    flash("Voicemail PIN changed.", "success")
    return redirect(url_for("settings.index"))


@bp.route("/password", methods=["POST"], endpoint="password")
@extension_required
def password():  # noqa: ANN201
    form = Form.from_request(request.form, ["current", "new", "confirm"])
    number = current_user().extension
    store = webdb.extensions()
    problem = verify_current_password(number, lambda: store.check_web_password(number, str(form.get("current"))))
    if problem:
        form.error("current", problem)
    new = form.check("new", lambda: validate_web_password(str(form.get("new"))))
    if new is not None and form.get("confirm") != new:
        form.error("confirm", "The two passwords differ.")
    form.values.update(current="", new="", confirm="")  # passwords are never sent back
    if not form.ok:
        return _page(400, password=form)
    store.set_web_password(number, new)
    refresh_fingerprint(store.get(number).web_password_hash or "")
    log.info("extension %s changed its web password", number)
    flash("Password changed.", "success")
    return redirect(url_for("settings.index"))
