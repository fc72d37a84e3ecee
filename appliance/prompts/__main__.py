"""`python -m appliance.prompts build|say`: render the catalogues; try out a composed phrase."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date, datetime
from pathlib import Path

from appliance.prompts import compose
from appliance.prompts.catalog import RENDERED_DIR, available_languages, load_catalog
from appliance.prompts.exceptions import PromptError


def _build(args: argparse.Namespace) -> int:
    from appliance.prompts.build import build

    langs = args.lang.split(",") if args.lang else None
    report = build(args.out, langs, jobs=args.jobs, force=args.force)
    if not args.quiet or report.rendered:
        print(report.summary() + (f", {report.audio_seconds:.0f} s of audio" if report.rendered else ""))
    return 0


def _say(args: argparse.Namespace) -> int:
    lang, kind, value = args.lang, args.kind, args.value
    if kind == "number":
        ids = compose.say_number(int(value), lang)
    elif kind == "digits":
        ids = compose.say_digits(value, lang)
    elif kind == "count":
        n, _, noun = value.partition(":")
        ids = compose.say_count(int(n), noun or "new_message", lang)
    elif kind == "duration":
        ids = compose.say_duration(int(value), lang)
    elif kind == "date":
        ids = compose.say_date(date.fromisoformat(value), lang, year=True)
    else:  # time: relative to --now (default: the same day at 23:59)
        when = datetime.fromisoformat(value)
        now = datetime.fromisoformat(args.now) if args.now else when.replace(hour=23, minute=59)
        ids = compose.say_time(when, lang, now=now)
    catalog = load_catalog(lang if lang in available_languages() else "en")
    print(" ".join(ids))
    print(" ".join(catalog.text(pid) if pid in catalog else f"<{pid}>" for pid in ids))
    if args.wav:
        from appliance.media.wav import write_wav_atomic
        from appliance.prompts.library import PromptLibrary

        write_wav_atomic(args.wav, PromptLibrary(args.root).sequence(ids, lang))
        print(f"wrote {args.wav}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m appliance.prompts", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="render the prompt catalogues to 8 kHz WAV (incremental)")
    b.add_argument("--out", type=Path, default=RENDERED_DIR, help=f"output directory (default {RENDERED_DIR})")
    b.add_argument("--lang", help="comma-separated languages (default: every catalogue)")
    b.add_argument("--jobs", type=int, help="worker processes (default: one per CPU)")
    b.add_argument("--force", action="store_true", help="render everything again")
    b.add_argument("--quiet", action="store_true", help="print nothing when nothing changed")
    b.set_defaults(func=_build)
    s = sub.add_parser("say", help="show the prompt ids (and optionally audio) of a composed phrase")
    s.add_argument("lang")
    s.add_argument("kind", choices=["number", "digits", "count", "duration", "date", "time"])
    s.add_argument("value", help="e.g. 2024, 192.168.1.1, 3:new_message, 95, 2024-03-03, 2024-03-03T14:41")
    s.add_argument("--now", help="for time: the moment it is now (ISO)")
    s.add_argument("--wav", type=Path, help="write the composed audio here")
    s.add_argument("--root", type=Path, help="rendered prompt directory")
    s.set_defaults(func=_say)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except (PromptError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
