"""Cost of parsing and serializing SIP messages, on this machine.

    python -m bench.sip_parse                # about 10 s
    python -m bench.sip_parse --seconds 0.2

Messages are real pjsua2 2.15 captures (tests/fixtures/sip/captured/pjsua2): an INVITE with SDP and
an authenticated REGISTER. Each figure is the median of several timed batches, in µs of this process's
CPU time per message (CPU time, not wall time, so that other load on a shared machine disturbs it less).
The reference measured in the same run is `bytes.split(b"\\r\\n")` of the same message (the least a
line-oriented parser in Python can cost), so the ratios compare across machines. "msgs/s/core" is how
many such messages one core could handle if it did only this.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from appliance.sip.message import Request, StreamFramer, make_response, parse_message, validate_request

CAPTURED = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sip" / "captured" / "pjsua2"
MESSAGES = {"INVITE": CAPTURED / "invite.sip", "REGISTER": CAPTURED / "register_with_authorization.sip"}


def measure(step: Callable[[], object], seconds: float) -> float:
    """Median µs of CPU time per call of `step` over batches filling about `seconds`."""
    step()
    batch = 1
    while True:  # grow the batch until one takes at least 10 ms
        start = time.process_time()
        for _ in range(batch):
            step()
        elapsed = time.process_time() - start
        if elapsed >= 0.01:
            break
        batch *= 2
    rounds = max(5, int(seconds / elapsed))
    samples = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(batch):
            step()
        samples.append((time.process_time() - start) / batch * 1e6)
    return statistics.median(samples)


def accessors(data: bytes) -> object:
    """What the transaction layer and the registrar read from every request."""
    m = parse_message(data)
    m.vias, m.from_, m.to, m.cseq, m.contacts  # noqa: B018
    return m.serialize()


def steps(data: bytes) -> dict[str, Callable[[], object]]:
    request = parse_message(data)
    assert isinstance(request, Request)
    framer = StreamFramer()
    return {
        "reference: bytes.split(CRLF)": lambda: data.split(b"\r\n"),
        "parse": lambda: parse_message(data),
        "parse + serialize": lambda: parse_message(data).serialize(),
        "parse + accessors + serialize": lambda: accessors(data),
        "validate_request (parsed)": lambda: validate_request(request),
        "make_response(200) + serialize": lambda: make_response(request, 200, to_tag="t").serialize(),
        "StreamFramer.feed (one message)": lambda: framer.feed(data),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=0.6, help="time per figure (default 0.6)")
    args = parser.parse_args(argv)
    for name, path in MESSAGES.items():
        data = path.read_bytes()
        lines = data.count(b"\r\n")
        print(f"\n{name}: {len(data)} bytes, {lines} lines ({path.name})")
        print(f"  {'step':34} {'µs':>8} {'× ref':>8} {'msgs/s/core':>12}")
        reference = None
        for label, step in steps(data).items():
            us = measure(step, args.seconds)
            reference = reference or us
            print(f"  {label:34} {us:8.2f} {us / reference:8.1f} {1e6 / us:12,.0f}")


if __name__ == "__main__":
    main()
