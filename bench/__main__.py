"""`python -m bench` (and `make bench`): run every benchmark in turn and print its figures."""

from __future__ import annotations

import importlib
import sys

BENCHES = ["bench.media_primitives", "bench.sip_parse", "bench.media_relay", "bench.sip_load", "bench.voicemail_mail",
           "bench.webui", "bench.webrtc", "bench.recording"]


def main() -> int:
    wanted = sys.argv[1:] or BENCHES
    for name in wanted:
        module = name if name.startswith("bench.") else f"bench.{name}"
        print(f"\n=== {module} ===", flush=True)
        try:
            bench = importlib.import_module(module)
        except ModuleNotFoundError as err:
            print(f"(not available: {err})")
            continue
        # A bench that needs more than Python packages (a browser, a SIP stack, built assets) says why it
        # cannot run here; the others still run.
        reason = bench.unavailable() if hasattr(bench, "unavailable") else None
        if reason is not None:
            print(f"skipped: {reason}")
            continue
        bench.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
