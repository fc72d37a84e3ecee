"""Log in and out. Extension users log in with their number and web password, the administrator as
"admin"; failures are counted per account and per source address and lock both out for a while."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, flash, redirect, render_template, request, url_for

from appliance.passwords import hash_password, verify_password
from appliance.store.extensions import validate_number
from appliance.store.exceptions import InvalidValue
from appliance.webui import db as webdb
from appliance.webui import options
from appliance.webui.firststart import ADMIN_PASSWORD_KEY
from appliance.webui.forms import Form
from appliance.webui.security import ADMIN, EXTENSION, User, current_user, login, login_required, logout

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

ACCOUNT_MAX = 32
PASSWORD_MAX = 128


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    password_hash: str = ""
    message: str = ""


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so that a wrong name costs as long as a wrong
    password and response times do not tell which accounts exist."""
    return hash_password("no such account, but the same work")


def authenticate(account: str, password: str, address: str) -> LoginResult:
    """Check a login attempt against lockouts and the stored hash; counts failures and logs them."""
    now = webdb.wallclock()
    opts = options.load(webdb.settings())
    key = account.strip()
    key = ADMIN if key.lower() == ADMIN else key
    throttle = webdb.throttle()
    lock = throttle.lockout(key, address, now=now, limit=opts.lockout_failures,
                            window=opts.lockout_window_seconds)
    if lock is not None:
        log.warning("web login refused for %r from %s: %s %r locked for %.0f s more",
                    key, address, lock.scope, lock.key, lock.retry_after)
        minutes = max(1, round(lock.retry_after / 60))
        return LoginResult(None, message=f"Too many failed logins. Try again in {minutes} minute"
                                         f"{'s' if minutes != 1 else ''}.")
    user, stored = _lookup(key, opts)
    if user is None and stored is None and key != ADMIN and _is_number(key) and not opts.portal_enabled:
        return LoginResult(None, message="The extension portal is switched off. Ask your administrator.")
    if verify_password(password, stored or _dummy_hash()) and user is not None and stored:
        throttle.record_success(key)
        log.info("web login of %s %s from %s", user.role, user.account, address)
        return LoginResult(user, stored)
    throttle.record_failure(key, address, now=now)
    log.warning("web login failed for %r from %s", key, address)
    if throttle.lockout(key, address, now=now, limit=opts.lockout_failures,
                        window=opts.lockout_window_seconds) is not None:
        log.warning("web login for %r from %s is now locked for %d min", key, address,
                    opts.lockout_window_minutes)
    return LoginResult(None, message="Wrong extension number or password.")


def verify_current_password(account: str, check: Callable[[], bool]) -> str | None:
    """For password-change forms: None when `check()` passes, else the message to show. Wrong
    answers count as failed logins, so a stolen session cannot be used to guess the password."""
    now = webdb.wallclock()
    opts = options.load(webdb.settings())
    address = request.remote_addr or "unknown"
    throttle = webdb.throttle()
    if throttle.lockout(account, address, now=now, limit=opts.lockout_failures,
                        window=opts.lockout_window_seconds) is not None:
        log.warning("password change by %r from %s refused: locked out", account, address)
        return "Too many wrong passwords. Try again later."
    if check():
        return None
    throttle.record_failure(account, address, now=now)
    log.warning("wrong current password in a password change by %r from %s", account, address)
    return "This is not your current password."


def _is_number(key: str) -> bool:
    try:
        validate_number(key)
    except InvalidValue:
        return False
    return True


def _lookup(key: str, opts: options.WebOptions) -> tuple[User | None, str | None]:
    """The user and stored hash for an account; (None, None) when it cannot log in at all."""
    if key == ADMIN:
        stored = webdb.settings().get(ADMIN_PASSWORD_KEY)
        return (User(ADMIN, ADMIN, "Administrator"), stored) if isinstance(stored, str) and stored else (None, None)
    if not opts.portal_enabled or not _is_number(key):
        return None, None
    ext = webdb.extensions().find(key)
    if ext is None or not ext.enabled or not ext.web_password_hash:
        return None, None
    return User(EXTENSION, ext.number, ext.name), ext.web_password_hash


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (never //host or a scheme: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target.rstrip("?") or None


def _home(user: User) -> str:
    return url_for("admin_extensions.index") if user.is_admin else url_for("dial.index")


@bp.route("/")
def home():  # noqa: ANN201
    user = current_user()
    return redirect(_home(user) if user else url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"], endpoint="login")
def login_page():  # noqa: ANN201
    user = current_user()
    if request.method == "GET" and user is not None:
        return redirect(_home(user))
    form = Form({"account": request.args.get("account", ""), "password": ""})
    status = 200
    if request.method == "POST":
        form = Form.from_request(request.form, ["account", "password"])
        account, password = form.text("account"), str(form.get("password"))
        if not account:
            form.error("account", "Enter your extension number (or admin).")
        elif len(account) > ACCOUNT_MAX:
            form.error("account", "That is not an extension number.")
        if not password:
            form.error("password", "Enter your password.")
        elif len(password) > PASSWORD_MAX:
            form.error("password", "That password is too long.")
        if form.ok:
            result = authenticate(account, password, request.remote_addr or "unknown")
            if result.user is not None:
                login(result.user, result.password_hash)
                return redirect(_safe_next(request.args.get("next")) or _home(result.user))
            form.error("password", result.message)
        form.values["password"] = ""  # never sent back to the browser
        status = 401 if "password" in form.errors and form.get("account") else 400
    portal = options.load(webdb.settings()).portal_enabled
    return render_template("auth/login.html", form=form, portal_enabled=portal), status



@bp.route("/logout", methods=["POST"], endpoint="logout")
@login_required
def logout_page():  # noqa: ANN201
    user = current_user()
    logout()
    log.info("web logout of %s", user.account if user else "?")
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
