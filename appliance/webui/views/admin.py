"""Administrator: portal switch and login policy, SMTP settings with a test mail, box information, the call
recording settings (free-space cap, announcement) and certificate upload, the admin password."""

from __future__ import annotations

import logging
import os
import shutil
import socket

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

import appliance
from appliance.passwords import hash_password, verify_password
from appliance.recording import settings as recording_settings
from appliance.store import schema_version
from appliance.store.exceptions import InvalidValue
from appliance.store.extensions import validate_email
from appliance.store.smtp import SECURITY_MODES, load_smtp, save_smtp, validate_smtp
from appliance.webui import certificates, mail, options
from appliance.webui import db as webdb
from appliance.webui.firststart import ADMIN_PASSWORD_KEY
from appliance.webui.forms import Form
from appliance.webui.views.auth import verify_current_password
from appliance.webui.pbx import PbxRefused, PbxUnavailable
from appliance.webui.security import admin_required, refresh_fingerprint

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/admin")

SMTP_FIELDS = ["host", "port", "security", "user", "password", "from_address"]
ADMIN_PASSWORD_MIN = 10


# -- portal and security -----------------------------------------------------------------------------------


@bp.route("/portal", methods=["GET", "POST"], endpoint="portal")
@admin_required
def portal():  # noqa: ANN201
    current = options.load(webdb.settings())
    form = Form({"portal_enabled": current.portal_enabled, "idle_minutes": str(current.idle_minutes),
                 "lockout_failures": str(current.lockout_failures),
                 "lockout_window_minutes": str(current.lockout_window_minutes)})
    if request.method == "POST":
        form = Form.from_request(request.form, list(options.LIMITS), checkboxes=["portal_enabled"])
        values: dict[str, object] = {options.PORTAL_ENABLED: bool(form.get("portal_enabled"))}
        for name, limit in options.LIMITS.items():
            text = form.text(name)
            if not text.isdigit() or not limit.low <= int(text) <= limit.high:
                form.error(name, f"A whole number from {limit.low} to {limit.high}.")
            else:
                values[limit.key] = int(text)
        if form.ok:
            webdb.settings().set_many(values)
            state = "on" if values[options.PORTAL_ENABLED] else "off"
            log.info("admin switched the extension portal %s", state)
            flash(f"Saved. The extension portal is {state}.", "success")
            return redirect(url_for("admin.portal"))
    return render_template("admin/portal.html", form=form), 400 if form.errors else 200


# -- SMTP --------------------------------------------------------------------------------------------------


def _smtp_form() -> Form:
    smtp = load_smtp(webdb.settings())
    return Form({"host": smtp.host, "port": str(smtp.port) if smtp.host else "", "security": smtp.security,
                 "user": smtp.user, "password": "", "from_address": smtp.from_address})


@bp.route("/smtp", methods=["GET", "POST"], endpoint="smtp")
@admin_required
def smtp():  # noqa: ANN201
    form, test = _smtp_form(), Form({"to": ""})
    if request.method == "POST":
        form = Form.from_request(request.form, SMTP_FIELDS)
        values = {name: form.get(name) for name in SMTP_FIELDS}
        if not values["password"]:  # an empty password field keeps the stored one
            values["password"] = load_smtp(webdb.settings()).password
        settings = form.check("host", lambda: validate_smtp(values),
                              field_map={name: name for name in SMTP_FIELDS})
        form.values["password"] = ""
        if settings is not None:
            save_smtp(webdb.settings(), settings)
            log.info("admin changed the SMTP settings (host %s)", settings.host or "none")
            flash("Mail server settings saved.", "success")
            return redirect(url_for("admin.smtp"))
    stored = load_smtp(webdb.settings())
    return render_template("admin/smtp.html", form=form, test=test, modes=SECURITY_MODES,
                           has_password=bool(stored.password)), 400 if form.errors else 200


@bp.route("/smtp/test", methods=["POST"], endpoint="smtp_test")
@admin_required
def smtp_test():  # noqa: ANN201
    test = Form.from_request(request.form, ["to"])
    settings = load_smtp(webdb.settings())
    to = test.check("to", lambda: validate_email(test.text("to")))
    if test.ok and not to:
        test.error("to", "Enter the address to send the test mail to.")
    if test.ok and not settings.configured:
        test.error("to", "Save a mail server and a sender address first.")
    if test.ok:
        try:
            mail.send_test_mail(settings, to, box_name=socket.gethostname())
        except mail.MailError as err:
            test.error("to", str(err))
        else:
            flash(f"Test mail sent to {to}.", "success")
            return redirect(url_for("admin.smtp"))
    return render_template("admin/smtp.html", form=_smtp_form(), test=test, modes=SECURITY_MODES,
                           has_password=bool(settings.password)), 400


# -- box ---------------------------------------------------------------------------------------------------


@bp.route("/box", methods=["GET"], endpoint="box")
@admin_required
def box():  # noqa: ANN201
    return _box_page(Form())


def _recording_form() -> Form:
    current = recording_settings.load(webdb.settings())
    cap = current.min_free_mb
    return Form({"min_free_mb": str(int(cap)) if float(cap).is_integer() else str(cap),
                 "announce": current.announce})


def _box_page(form: Form, status: int = 200, recording: Form | None = None):  # noqa: ANN202
    datadir = webdb.datadir()
    disk = shutil.disk_usage(datadir.path)
    daemon: dict[str, object] = {}
    try:
        reply = webdb.pbx().status()
        daemon = {"running": True, "registrations": reply.get("registration_count", 0),
                  "calls": reply.get("call_count", 0)}
    except (PbxUnavailable, PbxRefused) as err:
        daemon = {"running": False, "error": str(err)}
    db_size = sum(p.stat().st_size for p in datadir.path.glob("pbx.sqlite3*") if p.is_file())
    info = {
        "version": appliance.__version__, "hostname": socket.gethostname(), "data_dir": str(datadir.path),
        "schema": schema_version(webdb.get_db()), "db_size": db_size, "disk_free": disk.free,
        "disk_total": disk.total, "workers_pid": os.getpid(),
    }
    cert = certificates.describe(datadir.tls_cert_path)
    return render_template("admin/box.html", info=info, daemon=daemon, cert=cert, form=form,
                           recording=recording or _recording_form(),
                           max_min_free_mb=recording_settings.MAX_MIN_FREE_MB), status


@bp.route("/box/recording", methods=["POST"], endpoint="recording")
@admin_required
def recording():  # noqa: ANN201
    """The recording settings; pbxd follows them by itself (D-rec-7) and is asked to reload for the next call."""
    form = Form.from_request(request.form, ["min_free_mb"], checkboxes=["announce"])
    chosen = form.check("min_free_mb", lambda: recording_settings.validate(
        {"min_free_mb": form.text("min_free_mb"), "announce": bool(form.get("announce"))}),
        field_map={"min_free_mb": "min_free_mb", "announce": "announce"})
    if chosen is None:
        return _box_page(Form(), 400, recording=form)
    recording_settings.save(webdb.settings(), chosen)
    webdb.pbx().reload()
    log.info("admin changed the recording settings: keep %s MiB free, announcement %s", chosen.min_free_mb,
             "on" if chosen.announce else "off")
    flash("Recording settings saved. The next call uses them.", "success")
    return redirect(url_for("admin.box"))


@bp.route("/box/certificate", methods=["POST"], endpoint="certificate")
@admin_required
def certificate():  # noqa: ANN201
    form = Form()
    limit = certificates.MAX_PEM_BYTES
    files = {name: request.files.get(name) for name in ("cert", "key")}
    data: dict[str, bytes] = {}
    for name, upload in files.items():
        if upload is None or not upload.filename:
            form.error(name, "Choose a PEM file.")
            continue
        content = upload.stream.read(limit + 1)
        if len(content) > limit:
            form.error(name, f"The file is larger than {limit // 1024} KiB.")
        else:
            data[name] = content
    if form.ok:
        try:
            certificates.install(webdb.datadir(), data["cert"], data["key"])
        except InvalidValue as err:
            form.error(err.field, err.message)
        else:
            log.info("admin installed a new TLS certificate")
            flash("Certificate installed. New connections use it at once; SIP over TLS after pbxd restarts.",
                  "success")
            return redirect(url_for("admin.box"))
    return _box_page(form, 400)


# -- admin password ----------------------------------------------------------------------------------------


@bp.route("/password", methods=["GET", "POST"], endpoint="password")
@admin_required
def password():  # noqa: ANN201
    form = Form({"current": "", "new": "", "confirm": ""})
    if request.method == "POST":
        form = Form.from_request(request.form, ["current", "new", "confirm"])
        settings = webdb.settings()
        stored = settings.get(ADMIN_PASSWORD_KEY) or ""
        problem = verify_current_password("admin", lambda: verify_password(str(form.get("current")), stored))
        if problem:
            form.error("current", problem)
        new = str(form.get("new"))
        if len(new) < ADMIN_PASSWORD_MIN or len(new) > 128:
            form.error("new", f"Use {ADMIN_PASSWORD_MIN} to 128 characters.")
        elif any(ord(c) < 32 or ord(c) == 127 for c in new):
            form.error("new", "Control characters are not allowed.")
        elif form.get("confirm") != new:
            form.error("confirm", "The two passwords differ.")
        form.values.update(current="", new="", confirm="")
        if form.ok:
            encoded = hash_password(new)
            settings.set(ADMIN_PASSWORD_KEY, encoded)
            refresh_fingerprint(encoded)
            log.info("admin password changed from %s", request.remote_addr)
            flash("Admin password changed.", "success")
            return redirect(url_for("admin.password"))
    return render_template("admin/password.html", form=form,
                           min_length=ADMIN_PASSWORD_MIN), 400 if form.errors else 200


@bp.app_context_processor
def _inject() -> dict[str, object]:
    return {"app_name": current_app.config.get("APP_NAME", "PBX")}
