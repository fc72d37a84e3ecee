"""The Flask application factory: configuration, first start, blueprints, security headers, error pages.

`create_app()` with no argument serves the data directory named by `$APPLIANCE_DATA` (how the box's
init script starts gunicorn); tests pass a mapping with DATA_DIR, a CLOCK and a fake PBX client.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from appliance.datadir import DataDir
from appliance.store import initialize_database
from appliance.webui import firststart, formatting, nav, security
from appliance.webui.pbx import PbxClient

log = logging.getLogger(__name__)

DEFAULT_DATA = "./var"

DEFAULTS: dict[str, Any] = {
    "SESSION_COOKIE_NAME": "pbx_session",
    "SESSION_COOKIE_SECURE": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Whole request bodies (forms, CSV uploads, certificates); uploads have their own smaller limits.
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    "MAX_FORM_MEMORY_SIZE": 512 * 1024,
    "CSV_MAX_BYTES": 1024 * 1024,
    "CSV_MAX_ROWS": 10_000,
    "PBX_TIMEOUT": 3.0,
    "TEMPLATES_AUTO_RELOAD": False,
}

# Blueprints in navigation order; a later module (voicemail, trunks …) is added here.
_BLUEPRINTS = (
    "appliance.webui.views.auth",
    "appliance.webui.views.dial",
    "appliance.webui.views.contacts",
    "appliance.webui.views.status",
    "appliance.webui.views.calllogs",
    "appliance.webui.views.voicemail",
    "appliance.webui.views.voicemail_options",
    "appliance.webui.views.voicemail_links",
    "appliance.webui.views.features",
    "appliance.webui.views.settings",
    "appliance.webui.views.admin_extensions",
    "appliance.webui.views.mailboxes",
    "appliance.webui.views.voicemail_settings",
    "appliance.webui.views.admin",
    "appliance.webui.views.network",
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web application for one data directory (initialising it on first start)."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    if config:
        app.config.update(config)
    data = app.config.get("DATA_DIR") or os.environ.get("APPLIANCE_DATA") or DEFAULT_DATA
    datadir = DataDir(data)
    app.config["DATA_DIR"] = str(datadir.path)
    app.config.setdefault("CLOCK", time.time)
    app.extensions["appliance.datadir"] = datadir
    if app.config.get("PBX_CLIENT") is None:
        app.config["PBX_CLIENT"] = PbxClient(datadir.control_socket_path, timeout=app.config["PBX_TIMEOUT"])

    _first_start(app, datadir)
    _register(app)
    return app


def _first_start(app: Flask, datadir: DataDir) -> None:
    """Schema up to date, session key and admin password present (printed once when just made)."""
    datadir.create()
    db = initialize_database(datadir.database_path, seed=False)
    try:
        app.secret_key = firststart.ensure_secret_key(db)
        password = firststart.ensure_admin_password(db)
    finally:
        db.close()
    if password is not None:
        firststart.announce_admin_password(password, stream=sys.stdout)


def _register(app: Flask) -> None:
    import importlib  # noqa: PLC0415

    from appliance.webui import db as webdb  # noqa: PLC0415

    for name in _BLUEPRINTS:
        module = importlib.import_module(name)
        app.register_blueprint(module.bp)
    webdb.init_app(app)
    app.before_request(_body_limit)  # before security's CSRF check, which reads the body
    security.init_app(app)
    formatting.init_app(app)
    nav.init_app(app)
    app.after_request(_security_headers)
    app.register_error_handler(HTTPException, _http_error)


def _body_limit() -> None:
    """A view marked with a `max_body` attribute (an upload) may receive more than MAX_CONTENT_LENGTH."""
    view = current_app.view_functions.get(request.endpoint or "")
    limit = getattr(view, "max_body", None)
    if isinstance(limit, int) and limit > 0:
        request.max_content_length = limit


def _security_headers(response: Any) -> Any:
    """No inline script or style, no framing, no MIME sniffing. No HSTS: with the box's self-signed
    certificate HSTS would forbid the browser's "proceed anyway" (D-web-3)."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _http_error(error: HTTPException) -> Any:
    if request.path.startswith("/api/"):
        return {"ok": False, "error": error.description}, error.code or 500
    return render_template("error.html", error=error), error.code or 500
