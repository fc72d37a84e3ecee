"""Admin: portal switch and login policy, SMTP settings and test mail, box page and certificate, password."""

from __future__ import annotations

import datetime
import io
import socket

import pytest

from appliance.datadir import DataDir
from appliance.passwords import verify_password
from appliance.store import SettingsStore
from appliance.store.smtp import load_smtp
from tests.unit.webui.conftest import ADMIN_PASSWORD, Client, text


def test_the_portal_is_switched_on_and_off(admin, app, db):
    admin.post("/admin/portal", {"idle_minutes": "30", "lockout_failures": "5", "lockout_window_minutes": "15"})
    assert SettingsStore(db).get("portal.enabled") is False
    assert Client(app, address="198.51.100.30").login("1001").status_code == 401
    admin.post("/admin/portal", {"portal_enabled": "1", "idle_minutes": "10", "lockout_failures": "3",
                                 "lockout_window_minutes": "5"})
    settings = SettingsStore(db)
    assert settings.get("portal.enabled") is True and settings.get("web.session_idle_minutes") == 10
    assert settings.get("web.lockout_failures") == 3 and settings.get("web.lockout_window_minutes") == 5
    assert Client(app, address="198.51.100.31").login("1001").status_code == 302


def test_a_fresh_box_has_the_portal_off(tmp_path):
    from appliance.webui import create_app

    app = create_app({"DATA_DIR": str(tmp_path / "fresh"), "TESTING": True})
    assert "portal is switched off" in text(Client(app).get("/login"))


@pytest.mark.parametrize("field, value", [("idle_minutes", "0"), ("lockout_failures", "x"),
                                          ("lockout_window_minutes", "100000")])
def test_portal_limits_are_checked(admin, db, field, value):
    data = {"portal_enabled": "1", "idle_minutes": "30", "lockout_failures": "5", "lockout_window_minutes": "15"}
    response = admin.post("/admin/portal", {**data, field: value})
    assert response.status_code == 400 and f'id="{field}-error"' in text(response)
    assert f'value="{value}"' in text(response)
    assert SettingsStore(db).get("web.session_idle_minutes") is None


SMTP = {"host": "mail.example.com", "port": "587", "security": "starttls", "user": "pbx", "password": "pw1",
        "from_address": "pbx@example.com"}


def test_smtp_settings_are_saved_and_the_password_is_never_shown(admin, db):
    assert admin.post("/admin/smtp", SMTP).status_code == 302
    assert load_smtp(SettingsStore(db)).host == "mail.example.com"
    page = text(admin.get("/admin/smtp"))
    assert 'value="mail.example.com"' in page and "pw1" not in page and "A password is stored" in page
    admin.post("/admin/smtp", {**SMTP, "password": ""})  # empty keeps the stored password
    assert load_smtp(SettingsStore(db)).password == "pw1"


@pytest.mark.parametrize("field, value", [("host", "bad host"), ("port", "99999"), ("security", "ssl2"),
                                          ("from_address", "nobody")])
def test_bad_smtp_values_are_reported_and_kept(admin, db, field, value):
    response = admin.post("/admin/smtp", {**SMTP, field: value})
    assert response.status_code == 400 and f'id="{field}-error"' in text(response)
    if field != "security":
        assert f'value="{value}"' in text(response)
    assert load_smtp(SettingsStore(db)).host == ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_send_test_email_through_a_real_smtp_server(admin, db):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Collect(Message):
        def handle_message(self, message):  # noqa: ANN001, ANN201
            received.append(message)

    port = _free_port()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        admin.post("/admin/smtp", {**SMTP, "host": "127.0.0.1", "port": str(port), "security": "none", "user": ""})
        response = admin.post("/admin/smtp/test", {"to": "boss@example.com"})
        assert response.status_code == 302, text(response)
    finally:
        controller.stop()
    [message] = received
    assert message["To"] == "boss@example.com" and "Test mail" in message["Subject"]


def test_test_email_errors_are_shown_next_to_the_recipient(admin):
    page = text(admin.post("/admin/smtp/test", {"to": "boss@example.com"}))
    assert "Save a mail server" in page
    admin.post("/admin/smtp", {**SMTP, "host": "127.0.0.1", "port": str(_free_port()), "security": "none"})
    page = text(admin.post("/admin/smtp/test", {"to": "boss@example.com"}))
    assert 'id="to-error"' in page and "cannot reach" in page
    assert 'id="to-error"' in text(admin.post("/admin/smtp/test", {"to": "not an address"}))


def test_the_box_page_shows_version_database_and_certificate(admin, data_dir, pbx):
    DataDir(data_dir).ensure_tls_certificate(["pbx.example"])
    page = text(admin.get("/admin/box"))
    assert "schema" in page and "pbx.example" in page and "self-signed" in page and "running" in page
    pbx.running = False
    assert "not running" in text(admin.get("/admin/box"))


def _pair(name: str, days: int = 30):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=2))
            .not_valid_after(now + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _upload(admin, cert: bytes, key: bytes):
    return admin.post("/admin/box/certificate", {"cert": (io.BytesIO(cert), "c.pem"), "key": (io.BytesIO(key), "k.pem")},
                      content_type="multipart/form-data")


def test_an_uploaded_certificate_replaces_the_box_certificate(admin, data_dir):
    cert, key = _pair("pbx.customer.example")
    assert _upload(admin, cert, key).status_code == 302
    assert (data_dir / "tls" / "server.crt").read_bytes() == cert
    assert (data_dir / "tls" / "server.key").stat().st_mode & 0o777 == 0o600
    assert "pbx.customer.example" in text(admin.get("/admin/box"))


def test_bad_certificate_uploads_are_refused_and_nothing_changes(admin, data_dir):
    DataDir(data_dir).ensure_tls_certificate()
    before = (data_dir / "tls" / "server.crt").read_bytes()
    cert, key = _pair("a.example")
    _, other_key = _pair("b.example")
    expired_cert, expired_key = _pair("old.example", days=-1)
    assert 'id="key-error"' in text(_upload(admin, cert, other_key))
    assert 'id="cert-error"' in text(_upload(admin, b"garbage", key))
    assert 'id="key-error"' in text(_upload(admin, cert, b"garbage"))
    assert "expired" in text(_upload(admin, expired_cert, expired_key))
    assert 'id="cert-error"' in text(admin.post("/admin/box/certificate", {}))
    assert (data_dir / "tls" / "server.crt").read_bytes() == before


def test_the_admin_password_is_changed_with_the_current_one(admin, db):
    page = text(admin.post("/admin/password", {"current": "nope", "new": "new-admin-pw-1", "confirm": "new-admin-pw-1"}))
    assert 'id="current-error"' in page
    page = text(admin.post("/admin/password", {"current": ADMIN_PASSWORD, "new": "short", "confirm": "short"}))
    assert 'id="new-error"' in page
    page = text(admin.post("/admin/password", {"current": ADMIN_PASSWORD, "new": "new-admin-pw-1", "confirm": "x"}))
    assert 'id="confirm-error"' in page
    response = admin.post("/admin/password", {"current": ADMIN_PASSWORD, "new": "new-admin-pw-1",
                                              "confirm": "new-admin-pw-1"})
    assert response.status_code == 302
    assert verify_password("new-admin-pw-1", SettingsStore(db).get("web.admin_password_hash"))
    assert admin.get("/admin/box").status_code == 200  # still logged in
