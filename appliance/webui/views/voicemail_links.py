"""The "Mark as read" and "Delete" links of voicemail e-mails: no login, the signed token is the authority.

GET only shows what the link will do and a button (mail scanners and previews open links: a GET must
never act); the POST, with the CSRF token of the page the GET showed, does it through the same
voicemail web API as the mailbox page, which tells pbxd so the message lamps follow. A second POST
says it was already done. A token this box did not sign, or one past its expiry, gets a plain page.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, render_template, request

from appliance.voicemail import links
from appliance.voicemail.exceptions import ExpiredLink, InvalidLink, NoSuchMailbox, NoSuchMessage
from appliance.voicemail.storage import Message
from appliance.webui import db as webdb
from appliance.webui import vm

log = logging.getLogger(__name__)

bp = Blueprint("voicemail_links", __name__, url_prefix=links.PATH.rstrip("/"))


def _page(state: str, status: int = 200, *, action: str | None = None, message: Message | None = None) -> Any:
    mailbox = None
    if message is not None:
        try:
            mailbox = vm.store().mailbox(message.mailbox)
        except NoSuchMailbox:
            mailbox = None
    return render_template("voicemail_links/page.html", state=state, action=action, message=message,
                           mailbox=mailbox), status


@bp.route("/<token>", methods=["GET", "POST"], endpoint="act")
def act(token: str):  # noqa: ANN201
    try:
        claim = links.verify(links.load_key(webdb.settings()), token, webdb.wallclock())
    except ExpiredLink:
        return _page("expired", 410)
    except InvalidLink:
        log.warning("invalid voicemail e-mail link used from %s", request.remote_addr)
        return _page("invalid", 400)
    message = vm.store().message_by_uid(claim.uid)
    if message is None:
        return _page("gone", 200 if request.method == "POST" else 410, action=claim.action)
    if claim.action == "read" and not message.is_new:
        return _page("already", action=claim.action, message=message)
    if request.method != "POST":  # GET and HEAD (which Flask routes here too) only ever ask
        return _page("confirm", action=claim.action, message=message)
    api = vm.service()
    try:
        if claim.action == "read":
            api.mark(message.mailbox, message.id, True)
        else:
            api.delete(message.mailbox, message.id)
    except NoSuchMessage:  # deleted by phone or web between the lookup and now
        return _page("gone", action=claim.action)
    log.info("voicemail %s of mailbox %s %s through an e-mail link from %s", message.uid, message.mailbox,
             "marked read" if claim.action == "read" else "deleted", request.remote_addr)
    return _page("done", action=claim.action, message=message)
