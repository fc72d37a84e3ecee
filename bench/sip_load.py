"""SIP load on the real daemon with SIPp: REGISTER rate, calls per second, anchored G.711 calls with RTP.

    python -m bench.sip_load                          # all three, default sizes
    python -m bench.sip_load --only register --users 10000 --reg-rates 250,500,1000
    python -m bench.sip_load --only cps --cps 50,100,200
    python -m bench.sip_load --only rtp --rtp-calls 100,200,400

Everything runs on this machine: pbxd (one process, one event loop) and SIPp share its cores, so the
figures are a floor for the box, not a ceiling. Each phase prints a table; RSS and CPU are pbxd's.
The reference line of each phase is SIPp against SIPp without the box, measured in the same run.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

from bench.harness import (
    SCENARIOS, BenchPbx, cpu_percent, free_port, percentile, sipp, write_ulaw_pcap,
)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def register_phase(users: int, rates: list[int], duration: float) -> None:
    print(f"\n-- REGISTER with digest auth (MD5), {users} extensions --")
    print(f"{'rate/s':>8} {'sent':>7} {'ok':>7} {'fail':>5} {'achieved/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'cpu %':>6}")
    pbx = BenchPbx(users).start()
    try:
        cursor = 0
        for rate in rates:
            count = min(int(rate * duration), users)
            chosen = (pbx.users * 2)[cursor:cursor + count]
            cursor = (cursor + count) % users
            inf = pbx.injection_file(chosen)
            before = pbx.sample()
            run = sipp(["-sf", str(SCENARIOS / "register.xml"), "-inf", str(inf), "-r", str(rate), "-m", str(count),
                        "-l", str(max(rate, 100)), "-p", str(free_port()), "-timeout", f"{duration * 4 + 30:.0f}s",
                        f"127.0.0.1:{pbx.sip_port}"], pbx.dir / f"reg-{rate}", duration * 4 + 60)
            after = pbx.sample()
            print(f"{rate:>8} {count:>7} {run.successful:>7} {run.failed:>5} {run.successful / run.elapsed:>10.0f} "
                  f"{percentile(run.rtts_ms, 50):>7.1f} {percentile(run.rtts_ms, 99):>7.1f} "
                  f"{cpu_percent(before, after):>6.0f}")
        _register_reference(pbx, rates, duration)
        # Fill the location service to `users` contacts and report what holding them costs.
        remaining = [u for u in pbx.users]
        inf = pbx.injection_file(remaining)
        sipp(["-sf", str(SCENARIOS / "register.xml"), "-inf", str(inf), "-r", "500", "-m", str(len(remaining)),
              "-l", "1000", "-p", str(free_port()), "-timeout", "600s", f"127.0.0.1:{pbx.sip_port}"],
             pbx.dir / "reg-fill", 900)
        time.sleep(2)
        held = pbx.control("status", limit=0)["registration_count"]
        idle_a = pbx.sample()
        time.sleep(5)
        idle_b = pbx.sample()
        print(f"contacts held: {held}; pbxd RSS {idle_b.rss_kib / 1024:.0f} MiB; idle CPU "
              f"{cpu_percent(idle_a, idle_b):.1f} %")
    finally:
        pbx.stop()


def _register_reference(pbx: BenchPbx, rates: list[int], duration: float) -> None:
    """The same SIPp load against a SIPp registrar that does nothing: what SIPp itself costs."""
    port = free_port()
    uas = subprocess.Popen(["sipp", "-sf", str(SCENARIOS / "register_uas.xml"), "-nostdin", "-i", "127.0.0.1",
                            "-p", str(port)], cwd=pbx.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        for rate in rates:
            count = min(int(rate * duration), len(pbx.users))
            inf = pbx.injection_file(pbx.users[:count])
            run = sipp(["-sf", str(SCENARIOS / "register.xml"), "-inf", str(inf), "-r", str(rate), "-m", str(count),
                        "-l", str(max(rate, 100)), "-p", str(free_port()), "-timeout", f"{duration * 4 + 30:.0f}s",
                        f"127.0.0.1:{port}"], pbx.dir / f"reg-ref-{rate}", duration * 4 + 60)
            print(f"{'ref ' + str(rate):>8} {count:>7} {run.successful:>7} {run.failed:>5} "
                  f"{run.successful / run.elapsed:>10.0f} {percentile(run.rtts_ms, 50):>7.1f} "
                  f"{percentile(run.rtts_ms, 99):>7.1f}      -   (SIPp against SIPp, no box)")
    finally:
        uas.terminate()


def _call_scenario(pbx: BenchPbx, hold_ms: int, pcap: Path | None) -> Path:
    media = f'<nop><action><exec play_pcap_audio="{pcap}"/></action></nop>' if pcap else ""
    text = (SCENARIOS / "call.xml").read_text().replace("@@MEDIA@@", media).replace("@@HOLD_MS@@", str(hold_ms))
    path = pbx.dir / f"call-{hold_ms}-{'media' if pcap else 'signalling'}.xml"
    path.write_text(text)
    return path


def _start_uas(workdir: Path, port: int, media_port: int, echo: bool) -> subprocess.Popen:
    workdir.mkdir(parents=True, exist_ok=True)
    # -l: SIPp's UAS otherwise refuses calls beyond 3 x rate x duration of its own (small) defaults.
    args = ["sipp", "-sn", "uas", "-nostdin", "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1",
            "-mp", str(media_port), "-l", "100000"]
    if echo:
        args.append("-rtp_echo")
    args += ["-trace_err", "-error_file", str(workdir / "errors.log")]
    return subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cps_phase(rates: list[int], duration: float) -> None:
    print("\n-- calls per second: INVITE (407, re-INVITE with credentials) to BYE through the box, no media --")
    print(f"{'cps':>6} {'calls':>6} {'ok':>6} {'fail':>5} {'achieved':>9} {'setup p50':>9} {'p99 ms':>7} {'cpu %':>6}")
    pbx = BenchPbx(200)
    uas_port = free_port()
    callee = pbx.users[-1]
    pbx.add_binding(callee, "127.0.0.1", uas_port)
    pbx.start()
    uas = _start_uas(pbx.dir / "uas", uas_port, free_port(), echo=False)
    try:
        scenario = _call_scenario(pbx, 1000, None)
        inf = pbx.injection_file(pbx.users[:-1])
        for rate in rates:
            count = int(rate * duration)
            before = pbx.sample()
            run = sipp(["-sf", str(scenario), "-inf", str(inf), "-s", callee, "-r", str(rate), "-m", str(count),
                        "-l", str(rate * 4), "-p", str(free_port()), "-mi", "127.0.0.1", "-mp", str(free_port()),
                        "-timeout", f"{duration * 3 + 30:.0f}s", f"127.0.0.1:{pbx.sip_port}"],
                       pbx.dir / f"cps-{rate}", duration * 3 + 60)
            after = pbx.sample()
            print(f"{rate:>6} {count:>6} {run.successful:>6} {run.failed:>5} {run.successful / run.elapsed:>9.1f} "
                  f"{percentile(run.rtts_ms, 50):>9.1f} {percentile(run.rtts_ms, 99):>7.1f} "
                  f"{cpu_percent(before, after):>6.0f}")
        print(f"CDRs written: {_count_cdrs(pbx)}")
    finally:
        uas.terminate()
        pbx.stop()


def _count_cdrs(pbx: BenchPbx) -> int:
    import sqlite3  # noqa: PLC0415

    conn = sqlite3.connect(pbx.data / "pbx.sqlite3")
    try:
        return conn.execute("SELECT count(*) FROM cdr").fetchone()[0]
    finally:
        conn.close()


def rtp_phase(sizes: list[int], hold_s: float) -> None:
    print("\n-- concurrent anchored G.711 calls: SIPp pcap caller -> box -> SIPp -rtp_echo callee --")
    print(f"{'calls':>6} {'up':>5} {'endpoints':>9} {'pkts in/s':>9} {'loss %':>7} {'jitter ms':>9} "
          f"{'max':>6} {'cpu %':>6} {'RSS MiB':>8}")
    pbx = BenchPbx(max(sizes) + 1, rtp_range=(20000, 32000))
    uas_port = free_port()
    callee = pbx.users[-1]
    pbx.add_binding(callee, "127.0.0.1", uas_port)
    pbx.start()
    uas = _start_uas(pbx.dir / "uas", uas_port, free_port(), echo=True)
    pcap = write_ulaw_pcap(pbx.dir / "tone.pcap", hold_s + 10)
    try:
        for size in sizes:
            scenario = _call_scenario(pbx, int(hold_s * 1000), pcap)
            inf = pbx.injection_file(pbx.users[:size])
            ramp = max(20, size // 10)
            uac = subprocess.Popen(
                ["sipp", "-nostdin", "-i", "127.0.0.1", "-sf", str(scenario), "-inf", str(inf), "-s", callee,
                 "-r", str(ramp), "-m", str(size), "-l", str(size), "-p", str(free_port()), "-mi", "127.0.0.1",
                 "-mp", str(free_port()), "-timeout", f"{hold_s * 3 + 60:.0f}s", f"127.0.0.1:{pbx.sip_port}"],
                cwd=pbx.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(size / ramp + 3)  # ramp up, then let media settle
            first = pbx.control("media")
            before = pbx.sample()
            time.sleep(min(10.0, hold_s / 2))
            second = pbx.control("media")
            after = pbx.sample()
            calls_up = pbx.control("status", limit=0)["call_count"]
            window = after.at - before.at
            pkts = second["packets_in"] - first["packets_in"]
            lost = second["lost"] - first["lost"]
            if calls_up < size or pkts <= 0:
                print(f"{size:>6} {calls_up:>5} {second['endpoints']:>9}   (the SIPp load generator could not hold "
                      f"{size} calls on this host; figures not meaningful)")
                uac.wait(hold_s * 3 + 120)
                time.sleep(2)
                continue
            loss = 100.0 * lost / max(1, pkts + lost)
            print(f"{size:>6} {calls_up:>5} {second['endpoints']:>9} {pkts / window:>9.0f} {loss:>7.3f} "
                  f"{second['jitter_ms_mean']:>9.2f} {second['jitter_ms_max']:>6.1f} "
                  f"{cpu_percent(before, after):>6.0f} {after.rss_kib / 1024:>8.0f}")
            uac.wait(hold_s * 3 + 120)
            time.sleep(2)
    finally:
        uas.terminate()
        pbx.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["register", "cps", "rtp"], action="append")
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--reg-rates", type=_ints, default=[250, 500, 1000])
    parser.add_argument("--cps", type=_ints, default=[25, 50, 100, 200])
    parser.add_argument("--rtp-calls", type=_ints, default=[50, 100, 200, 400])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--hold", type=float, default=25.0)
    args = parser.parse_args(argv)
    phases = args.only or ["register", "cps", "rtp"]
    if "register" in phases:
        register_phase(args.users, args.reg_rates, args.duration)
    if "cps" in phases:
        cps_phase(args.cps, args.duration)
    if "rtp" in phases:
        rtp_phase(args.rtp_calls, args.hold)


if __name__ == "__main__":
    main()
