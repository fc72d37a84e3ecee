"""`python -m bench.webui`: response times of the web UI's heavy pages, over HTTPS against the real server.

A data directory gets 100,000 CDRs (200 extensions, 60 days, internal/inbound/outbound mixed) and 5,000
company contacts; `appliance web` (gunicorn, 2 gthread workers, TLS) serves it on loopback. One client
with a kept-alive HTTPS connection logs in and requests each page repeatedly; p50/p95/p99 of the wall
time per request are printed, with the same figures for a static file and the login page measured in
the same run as the reference (what TLS, gunicorn and Flask cost without any query). Goal: call-log
pages p95 < 100 ms on this host. Not a pass/fail test.
"""

from __future__ import annotations

import http.client
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDR_COUNT = 100_000
CONTACT_COUNT = 5_000
VOICEMAIL_COUNT = 100
EXTENSIONS = [str(1000 + i) for i in range(200)]
REPEATS = int(os.environ.get("BENCH_WEBUI_REPEATS", "150"))
WARMUP = 15
ADMIN_PASSWORD = "bench-admin-pw"
USER, USER_PASSWORD = "1000", "bench-user-pw"
DAY = 86400.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_data(data: Path, now: float) -> None:
    """Database with extensions, CDRs and contacts (plain SQL for speed; the triggers keep indexes)."""
    from appliance.passwords import hash_password
    from appliance.store import SettingsStore, initialize_database, transaction

    rng = random.Random(7)
    db = initialize_database(data / "pbx.sqlite3", seed=False)
    try:
        conn = db.conn
        with transaction(db):
            conn.executemany(
                "INSERT INTO extensions (number, name, secret, enabled, created_at, updated_at)"
                " VALUES (?, ?, ?, 1, ?, ?)",
                [(n, f"User {n}", f"secret-{n}-x", now, now) for n in EXTENSIONS])
            conn.execute("UPDATE extensions SET web_password_hash = ? WHERE number = ?",
                         (hash_password(USER_PASSWORD), USER))
            SettingsStore(db).set_many({"web.admin_password_hash": hash_password(ADMIN_PASSWORD),
                                        "portal.enabled": True})
        rows = []
        for i in range(CDR_COUNT):
            start = now - rng.random() * 60 * DAY
            kind = rng.choice(("internal", "internal", "inbound", "outbound"))
            ext = rng.choice(EXTENSIONS)
            external = f"0{rng.randint(10, 99)}{rng.randint(10_000_000, 99_999_999)}"
            if kind == "internal":
                caller, called = ext, rng.choice(EXTENSIONS)
            elif kind == "inbound":
                caller, called = external, ext
            else:
                caller, called = ext, external
            answered = rng.random() < 0.7
            answer = start + rng.uniform(2, 20) if answered else None
            end = (answer + rng.uniform(5, 600)) if answer else start + rng.uniform(5, 30)
            rows.append((f"bench-{i}", start, answer, end, caller, None, called, called,
                         int(end - answer) if answer else 0, kind, "answered" if answered else "no answer"))
        with transaction(db):
            conn.executemany(
                'INSERT INTO cdr (call_id, start, answer, "end", caller, caller_name, called, final_called,'
                " duration, type, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        first = ["Ann", "Bo", "Carl", "Dana", "Eve", "Feng", "Gus", "Hana", "Ivan", "Jia", "Kim", "Lena"]
        last = ["Lee", "Chen", "Smith", "Petrov", "Wang", "Garcia", "Ito", "Müller", "Novak", "Khan"]
        with transaction(db):
            for i in range(CONTACT_COUNT):
                cursor = conn.execute(
                    "INSERT INTO contacts (owner, first_name, last_name, company, email, created_at, updated_at)"
                    " VALUES (NULL, ?, ?, ?, NULL, ?, ?)",
                    (f"{rng.choice(first)}{i}", rng.choice(last), f"Company {i % 300}", now, now))
                conn.executemany(
                    "INSERT INTO contact_numbers (contact_id, position, label, number) VALUES (?, ?, ?, ?)",
                    [(cursor.lastrowid, 0, "work", f"0{rng.randint(100_000_000, 999_999_999)}"),
                     (cursor.lastrowid, 1, "mobile", f"13{rng.randint(100_000_000, 999_999_999)}")])
        _voicemail(db, data, now, rng)
    finally:
        db.close()


def _voicemail(db, data: Path, now: float, rng: random.Random) -> None:
    """VOICEMAIL_COUNT messages in the user's mailbox, callers from the phonebook and extensions."""
    import numpy as np  # noqa: PLC0415

    from appliance.media.wav import write_wav_atomic  # noqa: PLC0415
    from appliance.store import ExtensionStore  # noqa: PLC0415
    from appliance.voicemail.storage import VoicemailStore  # noqa: PLC0415

    store = VoicemailStore(db, data / "voicemail", find_extension=ExtensionStore(db).find)
    audio = np.zeros(8000 * 5, dtype=np.int16)
    numbers = [row[0] for row in db.conn.execute("SELECT number FROM contact_numbers LIMIT 200")]
    for i in range(VOICEMAIL_COUNT):
        caller = rng.choice(numbers + list(EXTENSIONS))
        uid, path = store.begin_message(USER, caller, None, now - i * 3600)
        write_wav_atomic(path, audio)
        message = store.commit_message(uid, USER, 5.0)
        if i % 3:
            store.mark(message.id, True)


class Browser:
    """One kept-alive HTTPS connection with a cookie jar of one cookie (the session)."""

    def __init__(self, port: int) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
        self.cookie = ""

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        payload = None
        if body is not None:
            payload = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # gunicorn closed the idle kept-alive connection (5 s); open a new one
            self.connection.close()
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, text

    def login(self, account: str, password: str) -> None:
        _, page = self.request("GET", "/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, "no CSRF token on the login page"
        status, _ = self.request("POST", "/login", {"csrf_token": token.group(1), "account": account,
                                                    "password": password})
        assert status == 302, f"login of {account} failed with {status}"


def measure(browser: Browser, path: str, repeats: int = REPEATS) -> list[float]:
    for _ in range(WARMUP):
        status, _ = browser.request("GET", path)
        assert status == 200, f"{path}: HTTP {status}"
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        browser.request("GET", path)
        times.append((time.perf_counter() - started) * 1000.0)
    return times


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def report(label: str, times: list[float], reference_p95: float | None) -> None:
    p50, p95, p99 = (percentile(times, p) for p in (50, 95, 99))
    ratio = f"{p95 / reference_p95:5.1f}x" if reference_p95 else "  ref"
    flag = "" if p95 < 100 else "  <-- over 100 ms"
    print(f"  {label:<52} p50 {p50:6.1f}  p95 {p95:6.1f}  p99 {p99:6.1f} ms  {ratio}{flag}", flush=True)


def main() -> None:
    now = time.time()
    day = time.strftime("%Y-%m-%d", time.localtime(now - 10 * DAY))
    week_start = time.strftime("%Y-%m-%d", time.localtime(now - 14 * DAY))
    week_end = time.strftime("%Y-%m-%d", time.localtime(now - 8 * DAY))
    with tempfile.TemporaryDirectory(prefix="bench-webui-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        started = time.perf_counter()
        build_data(data, now)
        print(f"data: {CDR_COUNT} CDRs, {CONTACT_COUNT} contacts, {len(EXTENSIONS)} extensions "
              f"({time.perf_counter() - started:.1f} s to build)")
        port = _free_port()
        log = open(Path(tmp) / "web.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "web", "--data", str(data), "--bind", "127.0.0.1",
             "--https-port", str(port), "--no-http", "--log-level", "WARNING"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    Browser(port).request("GET", "/login")
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("appliance web did not start") from None
                    time.sleep(0.2)
            user, admin = Browser(port), Browser(port)
            user.login(USER, USER_PASSWORD)
            admin.login("admin", ADMIN_PASSWORD)
            print(f"{REPEATS} sequential requests per page over one kept-alive HTTPS connection "
                  "(gunicorn: 2 gthread workers); wall time per request")
            reference = measure(user, "/static/app.css")
            report("reference: static file /static/app.css", reference, None)
            ref95 = percentile(reference, 95)
            report("reference: login page (template, one settings read)", measure(Browser(port), "/login"), ref95)
            print(" call logs as extension 1000 (its calls only):")
            for label, query in [
                ("first page, no filter", ""),
                ("one day", f"start={day}&end={day}"),
                ("type inbound", "type=inbound"),
                ("number fragment (4 digits)", "number=5678"),
                ("all filters combined", f"start={week_start}&end={week_end}&type=outbound&number=0"),
                ("page 10", "page=10"),
            ]:
                report(label, measure(user, f"/calls/?{query}"), ref95)
            print(" call logs as admin (all 100,000 calls):")
            for label, query in [
                ("first page, no filter (counts 100,000)", ""),
                ("one day", f"start={day}&end={day}"),
                ("week + outbound", f"start={week_start}&end={week_end}&type=outbound"),
                ("rare number fragment", "number=12345"),
                ("common number fragment (~1/4 of rows)", "number=013"),
                ("extension 1042 + inbound", "extension=1042&type=inbound"),
                ("page 200 (offset 9,950)", "page=200"),
            ]:
                report(label, measure(admin, f"/calls/?{query}"), ref95)
            print(f" company phonebook ({CONTACT_COUNT} contacts):")
            for label, query in [
                ("first page", "book=company"),
                ("page 50", "book=company&page=50"),
                ("search by name", "book=company&q=Petrov"),
                ("search by number fragment", "book=company&q=1234"),
            ]:
                report(label, measure(user, f"/contacts/?{query}"), ref95)
            report("status poll /api/status (pbxd not running)", measure(user, "/api/status"), ref95)
            report(f"voicemail page ({VOICEMAIL_COUNT} messages, caller names)", measure(user, "/voicemail/"), ref95)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    print(f"host: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
