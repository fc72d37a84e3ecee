"""Extensions with their live status (idle / ringing / in use / unavailable) and a call button, and the
small JSON endpoint the pages poll for statuses and for calls ringing the user (desktop notifications)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from appliance.webui import db as webdb
from appliance.webui.pbx import PbxRefused, PbxUnavailable
from appliance.webui.security import User, current_user, login_required

bp = Blueprint("status", __name__)

STATUSES = ("idle", "ringing", "in use", "unavailable")


def _directory(user: User) -> list[dict[str, Any]]:
    """Extensions the user may see: all for the administrator, enabled ones for extension users."""
    return [
        {"number": e.number, "name": e.name, "department": e.department or "", "enabled": e.enabled}
        for e in webdb.extensions().list()
        if user.is_admin or e.enabled
    ]


def live_status(user: User) -> dict[str, Any]:
    """What the status poll returns for this user; never another extension's call details."""
    directory = _directory(user)
    try:
        status = webdb.pbx().status()
    except (PbxUnavailable, PbxRefused) as err:
        for entry in directory:
            entry["status"] = "unknown"
        return {"ok": True, "daemon": False, "message": str(err), "extensions": directory, "incoming": []}
    states = {e.get("number"): e.get("status") for e in status.get("extensions") or []}
    for entry in directory:
        state = states.get(entry["number"])
        entry["status"] = state if state in STATUSES else ("unavailable" if entry["enabled"] else "disabled")
    reply: dict[str, Any] = {"ok": True, "daemon": True, "extensions": directory, "incoming": []}
    if user.extension is not None:
        reply["incoming"] = _ringing_for(user.extension, status.get("calls") or [])
    else:
        reply["calls"] = [
            {key: call.get(key) for key in ("id", "caller", "called", "final_called", "state", "type")}
            for call in status.get("calls") or []
        ]
    return reply


def _ringing_for(extension: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    contacts = webdb.contacts()
    names = {e.number: e.name for e in webdb.extensions().list()}
    incoming = []
    for call in calls:
        if call.get("state") != "ringing" or extension not in (call.get("called"), call.get("final_called")):
            continue
        if call.get("caller") == extension:
            continue  # click-to-call ringing the user's own phone
        caller = str(call.get("caller") or "")
        name = names.get(caller) or contacts.name_for_number(caller, extension=extension) or ""
        incoming.append({"id": call.get("id"), "caller": caller, "caller_name": name})
    return incoming


@bp.route("/extensions", endpoint="index")
@login_required
def index():  # noqa: ANN201
    user = current_user()
    return render_template("status/index.html", status=live_status(user))


@bp.route("/api/status", endpoint="api")
@login_required
def api():  # noqa: ANN201
    """Polled every few seconds; does not count as activity for the idle timeout."""
    return live_status(current_user())
