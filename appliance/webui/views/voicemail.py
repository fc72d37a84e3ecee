"""Voicemail: the messages of a mailbox (list, play, download, delete, mark read/unread) and its greetings
(upload a WAV or record one in the browser, play, delete).

An extension user's "Voicemail" page is their own mailbox; the administrator reaches any extension's
or shared mailbox through /voicemail/<number>/ (linked from the extension form and the shared
mailboxes page). Options, PIN and caller rules are posted to `voicemail_options`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, request, send_file, url_for

from appliance.voicemail.exceptions import InvalidMailboxValue, NoSuchMessage
from appliance.voicemail.storage import GREETING_KINDS
from appliance.voicemail.web_api import MAX_GREETING_BYTES
from appliance.webui import vm
from appliance.webui.forms import Form
from appliance.webui.security import current_user, login_required

log = logging.getLogger(__name__)

bp = Blueprint("voicemail", __name__, url_prefix="/voicemail")

UPLOAD_KINDS = ("unavailable", "busy", "name", "custom")
WAV_TYPES = frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "application/octet-stream", ""})


def body_limit(limit: int):  # noqa: ANN201
    """Let one view accept a request body up to `limit` bytes (app-wide MAX_CONTENT_LENGTH is smaller)."""

    def mark(view: Any) -> Any:
        view.max_body = limit
        return view

    return mark


@bp.route("/", endpoint="index")
@login_required
def index():  # noqa: ANN201
    user = current_user()
    if user.extension is None:
        return redirect(url_for("mailboxes.index"))
    return vm.render_mailbox(vm.open_mailbox(user.extension))


@bp.route("/<number>/", endpoint="mailbox")
@login_required
def mailbox(number: str):  # noqa: ANN201
    box = vm.open_mailbox(number)
    if current_user().extension == number:
        return redirect(url_for("voicemail.index"))
    return vm.render_mailbox(box)


# -- messages ----------------------------------------------------------------------------------------------


def _wav_response(path: Path, download_name: str, *, attachment: bool) -> Any:
    if not path.is_file():
        abort(404)
    # conditional=True answers Range requests with 206, which <audio> needs to seek and to start quickly.
    response = send_file(path, mimetype="audio/wav", conditional=True, as_attachment=attachment,
                         download_name=download_name, max_age=0)
    response.headers["Cache-Control"] = "private, no-cache"  # revalidated by ETag, never kept by a proxy
    return response


@bp.route("/<number>/messages/<int:message_id>.wav", endpoint="audio")
@login_required
def audio(number: str, message_id: int):  # noqa: ANN201
    box = vm.open_mailbox(number)
    api = vm.service()
    try:
        path = api.audio(box.number, message_id)
        name = api.download_name(box.number, message_id)
    except NoSuchMessage:
        abort(404)
    return _wav_response(path, name, attachment=request.args.get("download") == "1")


def _done(number: str, message: str, **reply: Any) -> Any:
    if vm.wants_json():
        return jsonify({"ok": True, "counts": vm.service().counts(number), **reply})
    flash(message, "success")
    return redirect(vm.home(number))


@bp.route("/<number>/messages/<int:message_id>/delete", methods=["POST"], endpoint="delete")
@login_required
def delete(number: str, message_id: int):  # noqa: ANN201
    box = vm.open_mailbox(number)
    try:
        vm.service().delete(box.number, message_id)
    except NoSuchMessage:
        abort(404)
    log.info("%s deleted voicemail %d of mailbox %s", current_user().account, message_id, box.number)
    return _done(box.number, "Message deleted.")


@bp.route("/<number>/messages/<int:message_id>/mark", methods=["POST"], endpoint="mark")
@login_required
def mark(number: str, message_id: int):  # noqa: ANN201
    box = vm.open_mailbox(number)
    read = request.form.get("read", "1") == "1"
    try:
        vm.service().mark(box.number, message_id, read)
    except NoSuchMessage:
        abort(404)
    return _done(box.number, "Marked as read." if read else "Marked as unread.", read=read)


# -- greetings ---------------------------------------------------------------------------------------------


@bp.route("/<number>/greetings/<kind>.wav", endpoint="greeting_audio")
@login_required
def greeting_audio(number: str, kind: str):  # noqa: ANN201
    box = vm.open_mailbox(number)
    try:
        path = vm.store().greeting(box.number, kind)
    except InvalidMailboxValue:
        abort(404)
    if path is None:
        abort(404)
    return _wav_response(path, f"greeting-{box.number}-{kind}.wav", attachment=request.args.get("download") == "1")


def _upload_kind(form: Form) -> str | None:
    kind = form.text("kind")
    if kind not in UPLOAD_KINDS:
        form.error("kind", "Choose which greeting this is.")
        return None
    if kind != "custom":
        return kind
    name = form.text("name")
    if not name:
        form.error("name", "Give the greeting a name, e.g. customers.")
        return None
    if name in GREETING_KINDS:
        form.error("name", f"“{name}” is one of the standard greetings; choose it above instead.")
        return None
    if not vm.GREETING_NAME.fullmatch(name):
        form.error("name", "Use 1 to 32 lower-case letters, digits, - and _, starting with a letter or digit.")
        return None
    return name


def _read_upload(form: Form) -> bytes | None:
    """The uploaded WAV's bytes, or None with the reason next to the file field."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        form.error("file", "Choose a WAV file (or record a greeting).")
        return None
    if not upload.filename.lower().endswith((".wav", ".wave")):
        form.error("file", f"“{upload.filename}” is not a WAV file; upload a .wav file.")
        return None
    mimetype = (upload.mimetype or "").lower()
    if mimetype not in WAV_TYPES:
        form.error("file", f"The file is {mimetype}, not WAV audio.")
        return None
    data = upload.stream.read(MAX_GREETING_BYTES + 1)
    if len(data) > MAX_GREETING_BYTES:
        form.error("file", f"The file is larger than {MAX_GREETING_BYTES // (1024 * 1024)} MiB.")
        return None
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        form.error("file", "This is not a WAV file (no RIFF/WAVE header).")
        return None
    return data


@bp.route("/<number>/greetings", methods=["POST"], endpoint="upload_greeting")
@body_limit(vm.UPLOAD_BODY_MAX)
@login_required
def upload_greeting(number: str):  # noqa: ANN201
    box = vm.open_mailbox(number)
    form = Form.from_request(request.form, ["kind", "name"])
    kind = _upload_kind(form)
    data = _read_upload(form) if form.ok else None
    seconds = None
    if form.ok and kind is not None and data is not None:
        try:
            seconds = vm.service().upload_greeting(box.number, kind, data)
        except InvalidMailboxValue as err:
            form.error("file", vm.sentence(err.message))
    if not form.ok or seconds is None:
        if vm.wants_json():
            return jsonify({"ok": False, "errors": form.errors}), 400
        return vm.render_mailbox(box, 400, upload=form)
    log.info("%s saved greeting %s of mailbox %s (%.1f s)", current_user().account, kind, box.number, seconds)
    message = f"Greeting saved ({seconds:.1f} s)."
    if vm.wants_json():
        flash(message, "success")  # the recorder reloads the page, which shows it
    return _done(box.number, message, seconds=round(seconds, 2), kind=kind)


@bp.route("/<number>/greetings/<kind>/delete", methods=["POST"], endpoint="delete_greeting")
@login_required
def delete_greeting(number: str, kind: str):  # noqa: ANN201
    box = vm.open_mailbox(number)
    try:
        if vm.store().greeting(box.number, kind) is None:
            abort(404)
        vm.service().delete_greeting(box.number, kind)
    except InvalidMailboxValue:
        abort(404)
    log.info("%s deleted greeting %s of mailbox %s", current_user().account, kind, box.number)
    return _done(box.number, "Greeting deleted.")
