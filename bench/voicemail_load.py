"""Voicemail under load: simultaneous callers leaving messages, and how fast MWI and e-mail follow.

    python -m bench.voicemail_load [--callers 20,50,100] [--seconds 12] [--probes 10]

1. N SIPp callers at once dial *4<mailbox> (each its own mailbox), play a tone through the greeting,
   the beep and the recording, and hang up: every message must be kept, with the expected length and
   the tone throughout (no lost or truncated message). pbxd's CPU and RSS are reported.
2. Probes with pjsua2 phones: hang-up -> MWI NOTIFY at a subscribed phone, and hang-up -> e-mail
   received by an aiosmtpd server; the clocks compared are CLOCK_MONOTONIC of each process.
Reference: the same N SIPp calls to an extension answered by a SIPp UAS (no recording, no prompts).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.harness import BenchPbx, cpu_percent, free_port, write_ulaw_pcap


def _scenario(pbx: BenchPbx, hold_ms: int, pcap: Path, reference: bool) -> Path:
    text = (Path(__file__).parent / "scenarios" / "call.xml").read_text()
    # '#' (RFC 4733, SIPp's sample capture) skips the greeting; the tone starts after the beep.
    skip = "" if reference else (
        '<nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_pound.pcap"/></action></nop>'
        '<pause milliseconds="1500"/>')
    text = text.replace("@@MEDIA@@", skip + f'<nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
    text = text.replace("@@HOLD_MS@@", str(hold_ms))
    if not reference:
        text = text.replace("sip:[service]@", "sip:*4[field3]@").replace("<sip:[service]@", "<sip:*4[field3]@")
    path = pbx.dir / f"vm-{'ref' if reference else 'deposit'}.xml"
    path.write_text(text)
    return path


def _injection(pbx: BenchPbx, callers: list[str], mailboxes: list[str]) -> Path:
    from bench.harness import DOMAIN  # noqa: PLC0415

    path = pbx.dir / f"vm-users-{len(callers)}.csv"
    lines = ["SEQUENTIAL"] + [
        f"{c};[authentication username={c} password={pbx.secret(c)}];{DOMAIN};{m}" for c, m in zip(callers, mailboxes)]
    path.write_text("\n".join(lines) + "\n")
    return path


def deposit_phase(sizes: list[int], seconds: float) -> None:
    print("\n-- simultaneous callers leaving messages (*4<mailbox>, greeting + beep + recording) --")
    print(f"{'callers':>7} {'kept':>5} {'len min':>8} {'len max':>8} {'tone %':>7} {'cpu %':>6} {'RSS MiB':>8}")
    top = max(sizes)
    pbx = BenchPbx(2 * top + 1)
    pbx.start()
    pcap = write_ulaw_pcap(pbx.dir / "tone.pcap", seconds + 5, freq=700.0)
    try:
        for size in sizes:
            callers = pbx.users[:size]
            mailboxes = pbx.users[top:top + size]
            scenario = _scenario(pbx, int(seconds * 1000), pcap, reference=False)
            before = pbx.sample()
            subprocess.run(
                ["sipp", "-nostdin", "-i", "127.0.0.1", "-sf", str(scenario), "-inf", str(_injection(pbx, callers, mailboxes)),
                 "-r", str(size), "-m", str(size), "-l", str(size), "-p", str(free_port()), "-mi", "127.0.0.1",
                 "-mp", str(free_port()), "-timeout", f"{seconds * 3 + 30:.0f}s", f"127.0.0.1:{pbx.sip_port}"],
                cwd=pbx.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=seconds * 3 + 90)
            after = pbx.sample()
            time.sleep(2)
            rows = _messages(pbx, mailboxes)
            lengths = [r[1] for r in rows]
            tone = [_tone_fraction(pbx.data / "voicemail" / m / f"{uid}.wav") for m, _, uid in rows]
            print(f"{size:>7} {len(rows):>5} {min(lengths, default=0):>8.1f} {max(lengths, default=0):>8.1f} "
                  f"{100 * statistics.mean(tone) if tone else 0:>7.1f} {cpu_percent(before, after):>6.0f} "
                  f"{after.rss_kib / 1024:>8.0f}")
            _clear(pbx)
    finally:
        pbx.stop()


def _messages(pbx: BenchPbx, mailboxes: list[str]) -> list[tuple[str, float, str]]:
    conn = sqlite3.connect(pbx.data / "pbx.sqlite3")
    try:
        marks = ",".join("?" for _ in mailboxes)
        return conn.execute(f"SELECT mailbox, duration, uid FROM voicemail_messages WHERE mailbox IN ({marks})",
                            mailboxes).fetchall()
    finally:
        conn.close()


def _clear(pbx: BenchPbx) -> None:
    conn = sqlite3.connect(pbx.data / "pbx.sqlite3")
    with conn:
        conn.execute("DELETE FROM voicemail_messages")
    conn.close()


def _tone_fraction(path: Path) -> float:
    """Share of 20 ms frames of a message that carry the caller's 700 Hz tone."""
    from appliance.media.wav import read_wav  # noqa: PLC0415

    pcm = read_wav(path).astype(np.float64)
    frames = pcm[: len(pcm) // 160 * 160].reshape(-1, 160)
    if not len(frames):
        return 0.0
    t = np.arange(160) / 8000.0
    ref = np.exp(-2j * np.pi * 700 * t)
    # Share of each frame's energy at 700 Hz: 2|X|^2 / (N sum x^2) is 1 for a pure tone, ~0 for silence.
    share = 2 * np.abs(frames @ ref) ** 2 / (160 * ((frames ** 2).sum(axis=1) + 1e-9))
    return float(np.mean(share > 0.5))


def latency_phase(probes: int) -> None:
    """Hang-up -> MWI NOTIFY at a subscribed pjsua2 phone, and -> e-mail at aiosmtpd."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from aiosmtpd.controller import Controller  # noqa: PLC0415

    from tests.integration.conftest import Pbx  # noqa: PLC0415
    from tests.phones import Phone  # noqa: PLC0415

    received: list[float] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            received.append(time.monotonic())
            return "250 OK"

    smtp_port = free_port()
    smtp = Controller(Handler(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    import tempfile  # noqa: PLC0415

    pbx = Pbx(Path(tempfile.mkdtemp(prefix="vm-latency-")) / "data")
    for number in ("2001", "2002"):
        pbx.add_extension(number)
    from appliance.store import SettingsStore, open_database  # noqa: PLC0415
    from appliance.store.smtp import SmtpSettings, save_smtp  # noqa: PLC0415

    db = open_database(pbx.data / "pbx.sqlite3")
    save_smtp(SettingsStore(db), SmtpSettings("127.0.0.1", smtp_port, "none", "", "", "pbx@bench.test"))
    db.conn.close()
    pbx.set_extension("2002", email="bob@bench.test")
    pbx.start()
    alice, bob = Phone.start("alice"), Phone.start("bob")
    mwi, mail = [], []
    try:
        pbx.register(alice, "2001")
        pbx.register(bob, "2002", mwi=True)
        for _ in range(probes):
            call = alice.call(pbx.uri("*42002"))
            call.wait_confirmed(10)
            time.sleep(0.5)
            call.send_dtmf("#")
            time.sleep(1.2)
            call.play_tone(700)
            time.sleep(1.5)
            sent = len(received)
            mark = len(bob._events)
            call.hangup()
            hung = call.wait_disconnected(5)["t"]
            event = bob.wait_event("mwi", 10, since=mark)
            mwi.append(event["t"] - hung)
            deadline = time.monotonic() + 20
            while len(received) == sent and time.monotonic() < deadline:
                time.sleep(0.01)
            if len(received) > sent:
                mail.append(received[sent] - hung)
    finally:
        alice.close()
        bob.close()
        pbx.stop()
        smtp.stop()
    for name, values in (("hang-up -> MWI NOTIFY", mwi), ("hang-up -> e-mail at SMTP server", mail)):
        if values:
            ms = sorted(v * 1000 for v in values)
            print(f"{name}: median {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms over {len(ms)} messages")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callers", type=lambda s: [int(x) for x in s.split(",")], default=[20, 50, 100])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--probes", type=int, default=10)
    args = parser.parse_args(argv)
    deposit_phase(args.callers, args.seconds)
    latency_phase(args.probes)


if __name__ == "__main__":
    main()
