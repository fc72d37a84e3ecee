"""Administrator: box-wide voicemail settings - the prompt language callers and extensions hear unless a
mailbox or extension says otherwise, whether *61 from the owner's own phone skips the PIN, and the action
links in voicemail e-mails (on/off and the portal address they point to).

pbxd follows a saved change by itself within a second (it watches the settings table); the page also asks
it to reload so the very next call uses it.
"""

from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, render_template, request, url_for

from appliance.store import transaction
from appliance.store.extensions import LANGUAGES
from appliance.voicemail import box_settings, links
from appliance.webui import db as webdb
from appliance.webui import vm
from appliance.webui.forms import Form
from appliance.webui.security import admin_required

log = logging.getLogger(__name__)

bp = Blueprint("voicemail_settings", __name__, url_prefix="/admin/voicemail")

CHECKBOXES = ["trust_own_device", "email_links"]


def _page(form: Form, status: int = 200):  # noqa: ANN202
    settings = webdb.settings()
    languages = [(code, vm.LANGUAGE_NAMES.get(code, code)) for code in LANGUAGES]
    guessed = links.guess_public_url()
    return render_template("voicemail_settings/index.html", form=form, languages=languages, guessed_url=guessed,
                           effective_url=links.portal_url(settings, lambda: guessed),
                           links_on=box_settings.load(settings).email_links), status


@bp.route("/", methods=["GET", "POST"], endpoint="index")
@admin_required
def index():  # noqa: ANN201
    settings = webdb.settings()
    if request.method == "GET":
        current = box_settings.load(settings)
        return _page(Form({"language": current.language, "trust_own_device": current.trust_own_device,
                           "email_links": current.email_links,
                           "public_url": str(settings.get(links.PUBLIC_URL) or "")}))
    form = Form.from_request(request.form, ["language", "public_url"], checkboxes=CHECKBOXES)
    chosen = form.check("language", lambda: box_settings.validate(
        {"language": form.text("language"), **{name: bool(form.get(name)) for name in CHECKBOXES}}))
    url = form.check("public_url", lambda: links.validate_public_url(form.text("public_url")))
    if not form.ok or chosen is None:
        return _page(form, 400)
    with transaction(webdb.get_db()):
        box_settings.save(settings, chosen)
        if url:
            settings.set(links.PUBLIC_URL, url)
        else:
            settings.delete(links.PUBLIC_URL)
    webdb.pbx().reload()
    log.info("admin changed the voicemail settings: %s, portal address %s", chosen, url or "guessed")
    flash("Voicemail settings saved. The next call uses them.", "success")
    return redirect(url_for("voicemail_settings.index"))
