"""Web dial: a keypad and a number field; "call from my phone" is click-to-call through pbxd (the user's
own phone rings first, then the number). The browser phone (JsSIP over WSS to pbxd, WebRTC media) lives on
the same page: static/phone.js mounts into #browser-phone and asks `/dial/phone` for its credentials."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for

from appliance.webui import db as webdb
from appliance.webui.forms import Form
from appliance.webui.pbx import PbxRefused, PbxUnavailable
from appliance.webui.security import current_user, extension_required

log = logging.getLogger(__name__)

bp = Blueprint("dial", __name__, url_prefix="/dial")

#: JsSIP, bundled from npm by `make webassets` (not in git); without it the page says the phone is missing.
JSSIP_BUNDLE = Path(__file__).resolve().parents[1] / "static" / "vendor" / "jssip.min.js"
_HOSTNAME = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")
_SEPARATORS = re.compile(r"[\s\-().\u00a0/]")
_DIALABLE = re.compile(r"\+?[0-9*#]{1,32}")


def parse_dial_number(text: str) -> str:
    """What may be dialled: digits, '*' and '#' (feature codes), an optional leading '+'; separators go."""
    cleaned = _SEPARATORS.sub("", text or "")
    if not cleaned:
        raise ValueError("Enter a number to call.")
    if not _DIALABLE.fullmatch(cleaned):
        raise ValueError("A number may hold digits, * and # (up to 32), optionally after a +.")
    return cleaned


def my_calls(status: dict[str, Any], extension: str) -> list[dict[str, Any]]:
    """The live calls the user takes part in (the only ones they may see or hang up)."""
    return [
        call for call in status.get("calls") or []
        if extension in (call.get("caller"), call.get("called"), call.get("final_called"))
    ]


def _back() -> str:
    target = request.form.get("back", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dial.index")


@bp.route("/", endpoint="index")
@extension_required
def index():  # noqa: ANN201
    return _dial_page(Form({"number": request.args.get("number", "")}))


def _dial_page(form: Form, status: int = 200):  # noqa: ANN202
    """The dial page as every view that shows it must build it: the browser phone (when its bundle exists),
    the user's live calls and a CSP that lets the phone reach pbxd's WSS port. A page re-shown with a form
    error needs all of it too, or the browser phone vanishes after a typo."""
    user = current_user()
    calls, daemon_error = [], None
    try:
        calls = my_calls(webdb.pbx().status(), user.extension)
    except (PbxUnavailable, PbxRefused) as err:
        daemon_error = str(err)
    response = make_response(render_template("dial/index.html", form=form, calls=calls, daemon_error=daemon_error,
                                             phone_ready=JSSIP_BUNDLE.is_file()), status)
    # The browser phone's WebSocket goes to pbxd on this same host but another port (WSS): allow exactly that.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
        f"connect-src 'self' wss://{_hostname()}:*; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    return response


@bp.route("/phone", methods=["POST"], endpoint="phone")
@extension_required
def phone():  # noqa: ANN201
    """The browser phone's credentials for the logged-in user's own extension: a short-lived token from pbxd
    that works only on the WebSocket it opens (D-webrtc-3); the SIP secret never reaches the browser."""
    user = current_user()
    try:
        reply = webdb.pbx().webphone(user.extension)
    except (PbxUnavailable, PbxRefused) as err:
        return {"ok": False, "error": f"The browser phone cannot connect: {err}."}, 503
    port = reply.get("wss_port")
    if not port:
        return {"ok": False, "error": "The browser phone is switched off on this box (no secure WebSocket port)."}, 503
    realm = reply.get("realm") or _hostname()
    return {
        "ok": True, "extension": user.extension, "name": user.name, "uri": f"sip:{user.extension}@{realm}",
        "url": f"wss://{_hostname()}:{int(port)}/", "token": reply["token"],
        "expires_in": reply.get("expires_in"), "media": bool(reply.get("media", True)),
    }


def _hostname() -> str:
    """The host the browser used to reach this page (pbxd's WebSocket listens on the same host)."""
    host = request.host
    name = host if host.endswith("]") else host.rsplit(":", 1)[0]
    return name if _HOSTNAME.fullmatch(name) else "localhost"


@bp.route("/call", methods=["POST"], endpoint="call")
@extension_required
def call():  # noqa: ANN201
    """Click-to-call; also the target of every one-click call button (contacts, extensions, call logs)."""
    user = current_user()
    form = Form.from_request(request.form, ["number"])
    try:
        number = parse_dial_number(form.text("number"))
    except ValueError as err:
        form.error("number", str(err))
        return _dial_page(form, 400)
    if number == user.extension:
        form.error("number", "That is your own extension.")
        return _dial_page(form, 400)
    try:
        call_id = webdb.pbx().originate(user.extension, number)
    except PbxUnavailable as err:
        flash(f"Cannot call now: {err}.", "error")
        return redirect(_back())
    except PbxRefused as err:
        message = str(err)
        if "registered" in message:
            message = f"Your phone is not registered to extension {user.extension}: connect a phone first."
        flash(f"The call could not be started: {message}", "error")
        return redirect(_back())
    log.info("click-to-call by %s to %s (call %s)", user.extension, number, call_id)
    flash(f"Your phone is ringing: answer it to call {number}.", "success")
    return redirect(_back())


@bp.route("/hangup", methods=["POST"], endpoint="hangup")
@extension_required
def hangup():  # noqa: ANN201
    user = current_user()
    try:
        call_id = int(request.form.get("call", ""))
    except ValueError:
        flash("No such call.", "error")
        return redirect(url_for("dial.index"))
    try:
        mine = {c.get("id") for c in my_calls(webdb.pbx().status(), user.extension)}
        if call_id not in mine:
            flash("That call has ended (or is not yours).", "info")
        elif webdb.pbx().hangup(call_id):
            flash("Call ended.", "success")
    except (PbxUnavailable, PbxRefused) as err:
        flash(f"Cannot hang up: {err}.", "error")
    return redirect(_back())
