"""Time from a new voicemail to its e-mail being handed to the SMTP server, on this machine.

    python -m bench.voicemail_mail               # 50 mails with a 30 s WAV, about 10 s
    python -m bench.voicemail_mail --count 20 --seconds 10

An aiosmtpd server on 127.0.0.1 stamps each message when its DATA is complete. Measured:
- "outbox, one at a time": EmailOutbox.enqueue() to the server's stamp, the next mail enqueued once the
  previous one is marked sent. This is the path pbxd takes: hand-off to the worker thread, the queue row
  committed (synchronous=FULL: an fsync), WAV read, MIME built, SMTP connection, transfer, row marked sent.
- "outbox, burst": all mails enqueued at once; per mail, enqueue to its stamp (the queue drains in order
  over one connection per pass).
- reference "smtplib direct": the same work without the queue: read the WAV, build the same MIME
  message, connect and send with smtplib, in the benchmark's own thread.
Median and p95 in ms; "× ref" is outbox / reference for the one-at-a-time median.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import smtplib
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from aiosmtpd.controller import Controller

from appliance.media.wav import write_wav_atomic
from appliance.store import ExtensionStore, SettingsStore, initialize_database
from appliance.store.smtp import SmtpSettings, save_smtp
from appliance.voicemail.mail_templates import Notice, build_email
from appliance.voicemail.mailer import EmailOutbox
from appliance.voicemail.storage import VoicemailStore
from bench.harness import free_port

SENDER, RECIPIENT = "voicemail@pbx.example.com", "alice@example.com"


class Stamper:
    """aiosmtpd handler: the perf_counter time each message's DATA completed, keyed by its X-Bench-Id."""

    def __init__(self) -> None:
        self.stamps: dict[str, float] = {}
        self.sizes: list[int] = []
        self.changed = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        now = time.perf_counter()
        msg = email.message_from_bytes(envelope.content, policy=email.policy.compat32)
        key = msg.get("X-Bench-Id") or msg.get("Message-ID")
        with self.changed:
            self.stamps[key] = now
            self.sizes.append(len(envelope.content))
            self.changed.notify_all()
        return "250 OK"

    def wait(self, key: str, timeout: float = 30.0) -> float:
        with self.changed:
            if not self.changed.wait_for(lambda: key in self.stamps, timeout):
                raise TimeoutError(f"message {key} never arrived")
            return self.stamps[key]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the attached message")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-vmmail-") as tmp:
        run(Path(tmp), args.count, args.seconds)


def run(tmp: Path, count: int, seconds: float) -> None:
    db_path = tmp / "pbx.sqlite3"
    db = initialize_database(db_path, seed=False)
    ExtensionStore(db).add("2001", "Alice", "secret-2001", email=RECIPIENT)
    store = VoicemailStore(db, tmp / "voicemail", find_extension=ExtensionStore(db).find)
    uid, path = store.begin_message("2001", "+4930123", "Bob", time.time())
    tone = (np.sin(2 * np.pi * 440 * np.arange(int(8000 * seconds)) / 8000) * 8000).astype(np.int16)
    write_wav_atomic(path, tone)
    message = store.commit_message(uid, "2001", seconds)
    mailbox = store.mailbox("2001")
    stamper = Stamper()
    port = free_port()
    controller = Controller(stamper, hostname="127.0.0.1", port=port, data_size_limit=64 * 1024 * 1024)
    controller.start()
    save_smtp(SettingsStore(db), SmtpSettings("127.0.0.1", port, "none", "", "", SENDER))
    try:
        reference = measure_reference(stamper, store, message, port, count)
        one, burst, size = measure_outbox(stamper, db_path, store, message, mailbox, count)
    finally:
        controller.stop()
        db.conn.close()
    print(f"\nvoicemail e-mail: {count} mails, {seconds:.0f} s WAV attached ({size / 1024:.0f} KiB on the wire),"
          " aiosmtpd on loopback, plain SMTP")
    print(f"  {'path':34} {'median ms':>10} {'p95 ms':>8} {'× ref':>7}")
    ref_median = statistics.median(reference)
    for label, values in (("smtplib direct (reference)", reference), ("outbox, one at a time", one),
                          ("outbox, burst of all", burst)):
        median = statistics.median(values)
        print(f"  {label:34} {median * 1e3:10.1f} {percentile(values, 0.95) * 1e3:8.1f} "
              f"{median / ref_median:7.2f}")


def measure_reference(stamper: Stamper, store: VoicemailStore, message, port: int, count: int) -> list[float]:
    notice = Notice(mailbox=message.mailbox, mailbox_name="Alice", mailbox_kind="personal", caller=message.caller,
                    caller_name=message.caller_name, received_at=message.received_at, duration=message.duration)
    samples = []
    for i in range(count):
        key = f"ref-{i}"
        start = time.perf_counter()
        msg = build_email(notice, sender=SENDER, recipient=RECIPIENT, now=time.time(),
                          audio=store.audio_path(message).read_bytes())
        msg["X-Bench-Id"] = key
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.send_message(msg, from_addr=SENDER, to_addrs=[RECIPIENT])
        samples.append(stamper.wait(key) - start)
    return samples


def measure_outbox(stamper: Stamper, db_path: Path, store: VoicemailStore, message, mailbox,
                   count: int) -> tuple[list[float], list[float], int]:
    sent = threading.Semaphore(0)
    outbox = EmailOutbox(db_path, store.root, on_sent=lambda row: sent.release())
    outbox.start()
    try:
        one = []
        for _ in range(count):
            before = len(stamper.sizes)
            start = time.perf_counter()
            outbox.enqueue(message, mailbox, RECIPIENT, True, "en")
            with stamper.changed:
                stamper.changed.wait_for(lambda: len(stamper.sizes) > before, 30)
                arrived = max(stamper.stamps.values())
            one.append(arrived - start)
            sent.acquire(timeout=30)
        before = len(stamper.sizes)
        starts = []
        for _ in range(count):
            starts.append(time.perf_counter())
            outbox.enqueue(message, mailbox, RECIPIENT, True, "en")
        with stamper.changed:
            stamper.changed.wait_for(lambda: len(stamper.sizes) >= before + count, 120)
            arrivals = sorted(stamper.stamps.values())[-count:]
        burst = [arrived - start for start, arrived in zip(starts, arrivals)]
        for _ in range(count):
            sent.acquire(timeout=30)
        return one, burst, stamper.sizes[-1]
    finally:
        outbox.stop()


if __name__ == "__main__":
    main()
