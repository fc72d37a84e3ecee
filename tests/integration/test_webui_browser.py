"""The web UI end to end: the real `appliance web` (gunicorn, HTTPS) beside the real pbxd, driven by Debian's
headless Chromium through Playwright, with pjsua2 phones for click-to-call and incoming-call notifications.

Screenshots of the main pages go to test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import datetime
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from appliance.store import (
    CallRecord,
    CdrStore,
    ExtensionStore,
    SettingsStore,
    open_database,
)
from tests import audio

sync_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (scripts/install-system-deps.sh)"),
]


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WebServer:
    """`appliance web` for one data directory: HTTPS and the plain-HTTP redirect on free loopback ports."""

    def __init__(self, data: Path, admin_password: str | None = None) -> None:
        """`admin_password`: what `appliance init` printed for this data directory (the server prints none)."""
        self.data = data
        self.https_port = free_tcp_port()
        self.http_port = free_tcp_port()
        self.log_path = data.parent / f"{data.name}-web.log"
        self.proc: subprocess.Popen[str] | None = None
        self.admin_password = admin_password
        self.banner = ""

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def start(self, timeout: float = 30.0) -> WebServer:
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "web", "--data", str(self.data), "--bind", "127.0.0.1",
             "--https-port", str(self.https_port), "--http-port", str(self.http_port), "--access-log"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        lines = []
        for line in self.proc.stdout:  # the banner comes first, before gunicorn starts
            lines.append(line)
            match = re.search(r"administrator: admin / (\S+)", line)
            if match:
                self.admin_password = match.group(1)
            if "portal is off" in line:
                break
        self.banner = "".join(lines)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"appliance web exited with {self.proc.returncode}:\n{self.banner}{self.log_tail()}")
            try:
                self.get("/login")
                return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"appliance web did not come up:\n{self.log_tail()}")

    def get(self, path: str) -> tuple[int, bytes]:
        """GET over HTTPS, verifying the box's own certificate (SAN 127.0.0.1)."""
        context = ssl.create_default_context(cafile=str(self.data / "tls" / "server.crt"))
        with urllib.request.urlopen(self.url + path, context=context, timeout=5) as response:
            return response.status, response.read()

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None
        self.log.close()
        return code

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture
def web(pbx) -> Iterator[WebServer]:
    server = WebServer(pbx.data, pbx.admin_password).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def launched_chromium(args: list[str] = CHROMIUM_ARGS) -> Iterator[Any]:
    """Debian's Chromium launched through Playwright with `args`, closed on the way out."""
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    with launched_chromium() as chromium:
        yield chromium


#: Records what a page asks the Notification API to show in window.__notes (headless Chromium draws nothing).
CAPTURE_NOTIFICATIONS = """
    window.__notes = [];
    window.Notification = class {
        constructor(title, options) { window.__notes.push({title, body: (options || {}).body}); }
        close() {}
        static get permission() { return "granted"; }
        static requestPermission() { return Promise.resolve("granted"); }
    };
"""


def new_page(browser: Any, **options: Any) -> Any:
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 860}, **options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Any, web: WebServer, account: str, password: str) -> None:
    page.goto(web.url + "/login")
    page.fill("#f-account", account)
    page.fill("#f-password", password)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()


def with_db(pbx: Any, action: Any) -> Any:
    db = open_database(pbx.data / "pbx.sqlite3")
    try:
        return action(db)
    finally:
        db.close()


def enable_portal_user(pbx: Any, number: str, password: str) -> None:
    def change(db: Any) -> None:
        SettingsStore(db).set("portal.enabled", True)
        ExtensionStore(db).set_web_password(number, password)

    with_db(pbx, change)


# -- the server itself --------------------------------------------------------------------------------------


def test_https_with_the_box_certificate_and_plain_http_redirects(web):
    status, body = web.get("/login")  # verified against tls/server.crt: the box's certificate is served
    assert status == 200 and b"csrf_token" in body
    connection = http.client.HTTPConnection("127.0.0.1", web.http_port, timeout=5)
    connection.request("GET", "/calls/?type=inbound", headers={"Host": f"127.0.0.1:{web.http_port}"})
    response = connection.getresponse()
    assert response.status == 302
    assert response.getheader("Location") == f"https://127.0.0.1:{web.https_port}/calls/?type=inbound"
    connection.close()
    assert "set earlier" in web.banner and "administrator: admin /" not in web.banner


def test_the_admin_password_is_printed_by_init_only_and_never_by_the_web_server(pbx):
    assert pbx.admin_password  # printed by `appliance init` when it made the database
    again = pbx.cli("init").stdout
    assert "set earlier" in again and pbx.admin_password not in again
    first = WebServer(pbx.data).start()
    first.stop()
    second = WebServer(pbx.data).start()
    try:
        for server in (first, second):
            assert pbx.admin_password not in server.banner and "set earlier" in server.banner
        assert _https_login(second, "admin", pbx.admin_password)
    finally:
        second.stop()


def test_stopping_the_server_stops_the_redirector(web):
    assert web.stop() == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", web.http_port), timeout=1).close()


def _login_failures(pbx: Any) -> int:
    return int(with_db(pbx, lambda db: db.conn.execute("SELECT count(*) FROM web_login_failures").fetchone()[0]))


def test_a_plain_http_post_is_redirected_and_never_reaches_the_app(pbx, web):
    """A login posted to the plain-HTTP port is answered by the redirector alone: a redirect, no session
    cookie, no login attempt counted (six wrong passwords would otherwise lock the account). Browsers follow a
    302 to a POST with a GET, so the password is not re-sent."""
    enable_portal_user(pbx, "2001", "alice-web-pw")
    for account, password in [("admin", "wrong-password")] * 6 + [("2001", "wrong-pw")] * 6 + [
            ("admin", web.admin_password), ("2001", "alice-web-pw")]:
        body = urllib.parse.urlencode({"account": account, "password": password, "csrf_token": "x" * 43})
        connection = http.client.HTTPConnection("127.0.0.1", web.http_port, timeout=5)
        connection.request("POST", "/login?next=/calls/", body=body, headers={
            "Host": f"127.0.0.1:{web.http_port}", "Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        answer = response.read()
        connection.close()
        assert response.status == 302, (account, response.status)
        assert response.getheader("Location") == f"https://127.0.0.1:{web.https_port}/login?next=/calls/"
        assert response.getheader("Set-Cookie") is None
        # The redirector's own answer (wsgiref), not gunicorn's or the app's.
        assert answer.startswith(b"The web interface is at https://")
        assert "gunicorn" not in (response.getheader("Server") or "").lower()
    assert _login_failures(pbx) == 0
    # Neither account is locked: the right password over HTTPS logs in (a failure would be counted above).
    assert _https_login(web, "admin", web.admin_password) and _https_login(web, "2001", "alice-web-pw")
    # The control: the same wrong password over HTTPS reaches the app and is counted.
    assert not _https_login(web, "2001", "wrong-pw") and _login_failures(pbx) == 1


def _https_login(web: WebServer, account: str, password: str) -> bool:
    """Log in over HTTPS with the login form's CSRF token and cookie; True when a session was started."""
    context = ssl.create_default_context(cafile=str(web.data / "tls" / "server.crt"))
    connection = http.client.HTTPSConnection("127.0.0.1", web.https_port, context=context, timeout=5)
    try:
        connection.request("GET", "/login")
        response = connection.getresponse()
        page = response.read().decode()
        cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"account": account, "password": password, "csrf_token": token})
        connection.request("POST", "/login", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        response = connection.getresponse()
        response.read()
        return response.status == 302 and "/login" not in (response.getheader("Location") or "/login")
    finally:
        connection.close()


def _new_certificate(directory: Path) -> tuple[Path, Path, bytes]:
    """A self-signed certificate for 127.0.0.1 with a fresh key, unlike the box's: (cert file, key file, DER)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pbx.replaced.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("pbx.replaced.test"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "replaced.crt", directory / "replaced.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, cert.public_bytes(serialization.Encoding.DER)


def _presented(web: WebServer) -> bytes:
    """The certificate the server presents in a new TLS handshake (DER)."""
    return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", web.https_port), timeout=5))


def test_a_certificate_uploaded_on_the_box_page_is_served_to_new_connections_without_a_restart(
        web, browser, tmp_path):
    box_cert = web.data / "tls" / "server.crt"
    assert _presented(web) == ssl.PEM_cert_to_DER_cert(box_cert.read_text())
    cert_path, key_path, new_der = _new_certificate(tmp_path)
    server_pid = web.proc.pid

    page = new_page(browser)
    log_in(page, web, "admin", web.admin_password)
    page.goto(web.url + "/admin/box")
    page.set_input_files("#f-cert", str(cert_path))
    page.set_input_files("#f-key", str(key_path))
    page.click("form[action$='/box/certificate'] button[type=submit]")
    page.wait_for_load_state()
    assert "Certificate installed" in page.content() and "pbx.replaced.test" in page.content()
    page.context.close()

    # Every new handshake, whichever gunicorn worker takes it, presents the uploaded certificate ...
    assert [_presented(web) for _ in range(6)] == [new_der] * 6
    # ... which a client trusting only it verifies for 127.0.0.1; the box's old one no longer does.
    context = ssl.create_default_context(cafile=str(cert_path))
    with socket.create_connection(("127.0.0.1", web.https_port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.getpeercert(binary_form=True) == new_der
    assert web.get("/login")[0] == 200  # tls/server.crt is now the uploaded file
    # The same server process throughout: nothing was restarted.
    assert web.proc is not None and web.proc.pid == server_pid and web.proc.poll() is None


# -- the main pages in the browser --------------------------------------------------------------------------


def _insert_calls(pbx: Any, number: str) -> None:
    day = datetime.date(2024, 3, 14)

    def at(hour: int, offset_days: int = 0) -> float:
        return datetime.datetime.combine(day + datetime.timedelta(days=offset_days), datetime.time(hour)).timestamp()

    def insert(db: Any) -> None:
        store = CdrStore(db)
        for call_id, start, caller, called, kind in [
            ("w1", at(9), number, "2001", "internal"),
            ("w2", at(10), "5550100", number, "inbound"),
            ("w3", at(11), "5550199", number, "inbound"),
            ("w4", at(9, 1), number, "013800138000", "outbound"),
        ]:
            store.insert(CallRecord(call_id=call_id, start=start, answer=start + 3, end=start + 75, caller=caller,
                                    called=called, type=kind, status="answered"))

    with_db(pbx, insert)


def test_admin_sets_up_an_extension_and_its_user_works_in_the_portal(pbx, web, browser):
    page = new_page(browser)
    page.goto(web.url + "/")
    assert "/login" in page.url and "portal is switched off" in page.content()
    shot(page, "01-login")

    # The administrator creates extension 2005 with a web password and switches the portal on.
    log_in(page, web, "admin", web.admin_password)
    page.goto(web.url + "/admin/extensions/new")
    page.fill("#f-number", "2005")
    page.fill("#f-name", "Erin Example")
    page.fill("#f-email", "erin@example.com")
    page.fill("#f-department", "Support")
    page.fill("#f-web_password", "erin-web-pw")
    shot(page, "02-admin-new-extension")
    page.click("main form button[type=submit]")
    page.wait_for_selector("text=Extension 2005 created.")
    shot(page, "03-admin-extensions")
    page.goto(web.url + "/admin/portal")
    page.click("label.switch:has-text('Extension portal switched on')")
    page.click("main form button[type=submit]")
    page.wait_for_selector("text=The extension portal is on")
    shot(page, "04-admin-portal")
    page.goto(web.url + "/contacts/new?book=company")
    page.fill("#f-first_name", "Reception")
    page.fill("#f-number_work", "555 0100")
    page.click("main form button[type=submit]")
    page.wait_for_selector("text=Contact Reception added.")
    shot(page, "05-admin-company-phonebook")
    for path, name in (("/admin/smtp", "06-admin-smtp"), ("/admin/box", "07-admin-box")):
        page.goto(web.url + path)
        shot(page, name)
    page.click("text=Log out")
    page.wait_for_selector("text=You are logged out.")

    # The user logs in with the extension number and the web password.
    _insert_calls(pbx, "2005")
    log_in(page, web, "2005", "erin-web-pw")
    assert page.url.endswith("/dial/")
    shot(page, "10-dial")

    # CSV import into the personal contacts, with a bad row reported.
    page.goto(web.url + "/contacts/?book=personal")
    page.click("text=Import CSV")
    page.set_input_files("#f-file", files=[{
        "name": "contacts.csv", "mimeType": "text/csv",
        "buffer": "First name,Last name,Number\nAnn,Lee,+86 10 1234 5678\nBad,Row,12ab\nBo,Chen,555-0101\n".encode(),
    }])
    page.click("main form button[type=submit]")
    report = page.locator("#import-report")
    report.wait_for()
    assert "2 contacts imported" in report.inner_text()
    rejected = page.locator("#rejected-rows").inner_text()
    assert "12ab" in rejected and "not a phone number" in rejected
    shot(page, "11-contacts-import")
    page.goto(web.url + "/contacts/?book=personal")
    assert "+861012345678" in page.content() and "Chen" in page.content()
    shot(page, "12-contacts-personal")
    page.goto(web.url + "/contacts/?book=company")
    assert "Reception" in page.content()

    # Call logs: date range, type and number combined.
    page.goto(web.url + "/calls/")
    assert page.locator("#call-count").inner_text() == "4 calls"
    page.fill("#f-start", "2024-03-14")
    page.fill("#f-end", "2024-03-14")
    page.select_option("#f-type", "inbound")
    page.fill("#f-number", "0100")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#call-count").inner_text() == "1 call"
    assert "5550100" in page.locator("#call-log").inner_text()
    shot(page, "13-call-logs-search")

    # Settings: a bad value is refused next to its field and kept; a good one is saved.
    page.goto(web.url + "/settings/")
    page.fill("#form-preferences #f-email", "erin at example")
    page.click("#form-preferences button[type=submit]")
    error = page.locator("#form-preferences .field-error")
    assert "not an e-mail address" in error.inner_text()
    assert page.input_value("#form-preferences #f-email") == "erin at example"
    shot(page, "14-settings-error")
    page.fill("#form-preferences #f-email", "erin@new.example")
    page.click("#form-preferences label.switch:has-text('Do not disturb')")
    page.click("#form-preferences button[type=submit]")
    page.wait_for_selector("text=Settings saved.")
    ext = with_db(pbx, lambda db: ExtensionStore(db).get("2005"))
    assert ext.dnd and ext.email == "erin@new.example"
    shot(page, "15-settings")

    page.goto(web.url + "/extensions")
    page.wait_for_selector("tr[data-number='2005']")
    shot(page, "16-extensions")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(web.url + "/dial/")
    shot(page, "17-dial-phone-sized")
    page.context.close()


# -- with phones --------------------------------------------------------------------------------------------


def test_click_to_call_from_the_dial_page_rings_the_users_phone_first(pbx, web, browser, phone_factory, tmp_path):
    enable_portal_user(pbx, "2001", "alice-web-pw")
    alice, bob = phone_factory.many("alice", "bob")
    pbx.register(alice, "2001")
    pbx.register(bob, "2002")
    page = new_page(browser)
    log_in(page, web, "2001", "alice-web-pw")
    for digit in "2002":
        page.click(f".keypad .key[data-key='{digit}']")
    assert page.input_value("#dial-number") == "2002"
    page.click("#call-from-phone")
    page.wait_for_selector("text=Your phone is ringing")

    own_phone = alice.wait_incoming(10)  # the user's phone rings first
    assert "2002" in own_phone.remote_uri
    own_phone.answer()
    target = bob.wait_incoming(10)
    assert "2001" in target.remote_uri
    target.answer()
    target.wait_confirmed(10)
    own_phone.play_tone(1000)
    heard = target.record(tmp_path / "bob.wav")
    time.sleep(1.2)
    target.stop_recording()
    assert audio.has_tone(heard, 1000, 0.6)

    page.goto(web.url + "/extensions")
    page.wait_for_function(
        "() => document.querySelector(\"tr[data-number='2001'] [data-status]\").textContent === 'in use'"
        " && document.querySelector(\"tr[data-number='2002'] [data-status]\").textContent === 'in use'")
    shot(page, "20-extensions-during-a-call")
    page.goto(web.url + "/dial/")
    shot(page, "21-dial-during-a-call")
    page.click(".call-list button:has-text('Hang up')")
    page.wait_for_selector("text=Call ended.")
    own_phone.wait_disconnected(10)
    target.wait_disconnected(10)
    page.context.close()


def test_an_incoming_call_shows_a_desktop_notification(pbx, web, browser, phone_factory):
    enable_portal_user(pbx, "2001", "alice-web-pw")
    alice, bob = phone_factory.many("alice", "bob")
    pbx.register(alice, "2001")
    pbx.register(bob, "2002")
    page = new_page(browser, permissions=["notifications"])
    page.add_init_script(CAPTURE_NOTIFICATIONS)
    log_in(page, web, "2001", "alice-web-pw")
    page.goto(web.url + "/extensions")
    call = bob.call(pbx.uri("2001"))
    ringing = alice.wait_incoming(10)
    page.wait_for_function("() => window.__notes.length > 0", timeout=15_000)
    [note] = page.evaluate("window.__notes")
    assert note["title"] == "Incoming call" and "2002" in note["body"] and "User 2002" in note["body"]
    call.hangup()
    ringing.wait_disconnected(10)
    page.context.close()
