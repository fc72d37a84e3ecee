"""Who is logged in, for how long, and what they may open: sessions, idle timeout, CSRF, view guards.

Sessions are Flask's signed cookies (Secure, HttpOnly, SameSite=Lax). The session holds the role, the
account, when it was last used, a CSRF token, and a fingerprint of the account's password hash: changing
a password, removing an extension's web password, disabling the extension or switching the portal off
ends that account's other sessions at their next request.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, abort, current_app, flash, g, redirect, request, session, url_for

from appliance.webui import db as webdb
from appliance.webui import options
from appliance.webui.firststart import ADMIN_PASSWORD_KEY

log = logging.getLogger(__name__)

ADMIN = "admin"
EXTENSION = "extension"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
#: Requests to these endpoints do not count as activity (the status poll must not keep a session alive).
PASSIVE_ENDPOINTS = frozenset({"status.api", "static"})
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class User:
    """The logged-in account: the administrator, or an extension (by number).

    `operator` marks an extension that keeps the contacts (FEATURES §6: the company phonebook is maintained
    by admin/operator, personal contacts are visible to their owner and admin/operator). It is read from the
    extension at every request, so switching it off takes effect at once. It grants nothing else: an operator
    is an extension user everywhere but on the contacts pages, and `is_admin` stays False.
    """

    role: str
    account: str
    name: str
    operator: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    @property
    def keeps_contacts(self) -> bool:
        """May edit the company phonebook and see and edit every extension's personal contacts."""
        return self.is_admin or (self.role == EXTENSION and self.operator)

    @property
    def extension(self) -> str | None:
        """The user's own extension number (None for the administrator)."""
        return self.account if self.role == EXTENSION else None


def current_user() -> User | None:
    return g.get("user")


def fingerprint(password_hash: str | None) -> str:
    """A short keyed digest of a stored password hash, kept in the session to notice password changes."""
    key = str(current_app.secret_key).encode()
    return hmac.new(key, (password_hash or "").encode(), hashlib.sha256).hexdigest()[:24]


def login(user: User, password_hash: str) -> None:
    """Start a fresh session for `user` (a new CSRF token too: nothing carries over from before login)."""
    session.clear()
    session["role"] = user.role
    session["account"] = user.account
    session["fp"] = fingerprint(password_hash)
    session["seen"] = webdb.wallclock()
    session[CSRF_FIELD] = secrets.token_urlsafe(32)
    g.user = user


def refresh_fingerprint(password_hash: str) -> None:
    """Keep the current session after the user changed their own password."""
    session["fp"] = fingerprint(password_hash)


def logout() -> None:
    session.clear()
    g.user = None


def csrf_token() -> str:
    """This session's CSRF token (made on first use, also for the login form before anybody logs in)."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def _check_csrf() -> None:
    if request.method not in _UNSAFE_METHODS:
        return
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not isinstance(expected, str) or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        log.warning("CSRF check failed for %s %s from %s", request.method, request.path, request.remote_addr)
        abort(400, description="The form was stale or not sent by this site. Reload the page and try again.")


def _load_user() -> None:
    """Restore the session's user, ending sessions that idled out or whose account changed."""
    g.user = None
    if request.endpoint == "static":
        return
    role, account = session.get("role"), session.get("account")
    if role not in (ADMIN, EXTENSION) or not isinstance(account, str):
        return
    now = webdb.wallclock()
    opts = options.load(webdb.settings())
    seen = session.get("seen")
    if not isinstance(seen, (int, float)) or now - seen > opts.idle_seconds:
        log.info("web session of %s ended after %.0f s idle", account, now - (seen or 0))
        logout()
        flash("Your session expired. Please log in again.", "info")
        return
    user = _still_valid(role, account, opts)
    if user is None:
        logout()
        flash("Please log in again.", "info")
        return
    g.user = user
    if request.endpoint not in PASSIVE_ENDPOINTS:
        session["seen"] = now


def _still_valid(role: str, account: str, opts: options.WebOptions) -> User | None:
    if role == ADMIN:
        stored = webdb.settings().get(ADMIN_PASSWORD_KEY)
        if not stored or not hmac.compare_digest(fingerprint(stored), str(session.get("fp", ""))):
            return None
        return User(ADMIN, ADMIN, "Administrator")
    if not opts.portal_enabled:
        return None
    ext = webdb.extensions().find(account)
    if ext is None or not ext.enabled or not ext.web_password_hash:
        return None
    if not hmac.compare_digest(fingerprint(ext.web_password_hash), str(session.get("fp", ""))):
        return None
    return User(EXTENSION, ext.number, ext.name, operator=ext.operator)


def _before_request() -> None:
    _check_csrf()
    _load_user()


def login_required(view: View) -> View:
    """Any logged-in user; others go to the login page (API calls get 401)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            if request.path.startswith("/api/"):
                return {"ok": False, "error": "not logged in"}, 401
            return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def admin_required(view: View) -> View:
    """The administrator only; an extension user gets 403."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is not None and not user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return login_required(wrapped)  # type: ignore[return-value]


def extension_required(view: View) -> View:
    """Pages about one's own extension (dial, settings): extension users only."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is not None and user.extension is None:
            abort(403, description="This page belongs to an extension; log in with an extension number.")
        return view(*args, **kwargs)

    return login_required(wrapped)  # type: ignore[return-value]


def init_app(app: Flask) -> None:
    app.before_request(_before_request)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["CSRF_FIELD"] = CSRF_FIELD
    app.context_processor(lambda: {"current_user": current_user()})
