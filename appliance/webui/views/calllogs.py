"""Call logs: search by date range, type and number in any combination, paged, newest first.

An extension user sees only calls their extension took part in (as caller, called or final called);
the administrator sees every call and may narrow to one extension. Recordings are played from here.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, render_template, request, send_file, url_for

from appliance.store import NoSuchCallRecord
from appliance.store.cdr import CALL_TYPES
from appliance.store.extensions import validate_number
from appliance.store.exceptions import InvalidValue
from appliance.webui import db as webdb
from appliance.webui.formatting import day_start, parse_date
from appliance.webui.forms import Form
from appliance.webui.security import User, current_user, login_required

bp = Blueprint("calllogs", __name__, url_prefix="/calls")

PAGE_SIZE = 50
MAX_PAGE = 10_000
_NUMBER_QUERY = re.compile(r"\+?[0-9*#]{1,32}")


def parse_filters(args: Any, user: User) -> tuple[Form, dict[str, Any]]:
    """The search form as typed and the CdrStore.search filters it means (errors next to fields)."""
    form = Form({name: str(args.get(name, "")).strip()[:64] for name in ("start", "end", "type", "number",
                                                                          "extension")})
    filters: dict[str, Any] = {}
    days: dict[str, datetime.date] = {}
    for name in ("start", "end"):
        if form.text(name):
            try:
                days[name] = parse_date(form.text(name))
            except ValueError as err:
                form.error(name, str(err))
    if "start" in days:
        filters["start"] = day_start(days["start"])
    if "end" in days:
        filters["end"] = day_start(days["end"] + datetime.timedelta(days=1))  # the end day is included
        if "start" in days and days["end"] < days["start"]:
            form.error("end", "The end date is before the start date.")
    kind = form.text("type") or "all"
    if kind != "all" and kind not in CALL_TYPES:
        form.error("type", "Choose all, inbound, outbound or internal.")
    elif kind != "all":
        filters["type"] = kind
    number = re.sub(r"[\s\-().]", "", form.text("number"))
    if number:
        if _NUMBER_QUERY.fullmatch(number):
            filters["number"] = number
        else:
            form.error("number", "Digits, * and # only (any part of a number).")
    if user.is_admin:
        if form.text("extension"):
            form.check("extension", lambda: validate_number(form.text("extension")))
            filters["extension"] = form.text("extension")
    else:
        filters["extension"] = user.extension  # never anybody else's calls
    return form, filters


def _page_number() -> int:
    try:
        return max(1, min(MAX_PAGE, int(request.args.get("page", "1"))))
    except ValueError:
        return 1


@bp.route("/", endpoint="index")
@login_required
def index():  # noqa: ANN201
    user = current_user()
    form, filters = parse_filters(request.args, user)
    page = _page_number()
    records, total = [], 0
    if form.ok:
        store = webdb.cdrs()
        records = store.search(**filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        total = store.count(**filters)
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    query = {k: v for k, v in form.values.items() if v}

    def page_url(n: int) -> str:
        return url_for("calllogs.index", **query, page=n)

    return render_template("calllogs/index.html", form=form, records=records, total=total, page=page,
                           pages=pages, page_url=page_url, types=("all", *CALL_TYPES)), 200 if form.ok else 400


@bp.route("/<int:record_id>/recording", endpoint="recording")
@login_required
def recording(record_id: int):  # noqa: ANN201
    """The call's recording, for a party of the call or the administrator; only files under the
    recordings directory are ever served."""
    user = current_user()
    try:
        record = webdb.cdrs().get(record_id)
    except (NoSuchCallRecord, InvalidValue):
        abort(404)
    if not user.is_admin and user.extension not in (record.caller, record.called, record.final_called):
        abort(403)
    if not record.recording:
        abort(404)
    base = webdb.datadir().recordings_dir.resolve()
    path = (base / record.recording).resolve()
    if base not in path.parents or not path.is_file():
        abort(404)
    return send_file(Path(path), mimetype="audio/wav", conditional=True,
                     download_name=f"call-{record_id}.wav")
