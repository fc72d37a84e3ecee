"""`python -m bench`: every benchmark is listed, and one that cannot run on this host is skipped with the
reason (the others still run) instead of crashing halfway."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import bench.sip_parse
import bench.webrtc
from bench.__main__ import BENCHES, main


def _run(monkeypatch: pytest.MonkeyPatch, *names: str) -> int:
    monkeypatch.setattr(sys, "argv", ["bench", *names])
    return main()


def _must_not_start() -> None:
    raise AssertionError("the benchmark started although it cannot run here")


def test_the_browser_phone_benchmark_is_in_the_full_run():
    assert "bench.webrtc" in BENCHES and "bench.webui" in BENCHES


def test_without_aiortc_the_webrtc_bench_is_skipped_with_the_reason(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "aiortc", None)  # import aiortc -> ImportError
    monkeypatch.setattr(bench.webrtc, "main", _must_not_start)
    assert _run(monkeypatch, "webrtc") == 0
    assert "skipped: aiortc is not installed" in capsys.readouterr().out


def test_without_chromium_the_webrtc_bench_is_skipped_with_the_reason(monkeypatch, capsys, tmp_path: Path):
    pytest.importorskip("playwright.sync_api")
    import tests.integration.test_webui_browser as browser_tests

    monkeypatch.setattr(browser_tests, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(bench.webrtc, "main", _must_not_start)
    assert _run(monkeypatch, "bench.webrtc") == 0
    assert "skipped: Debian's Chromium is not installed" in capsys.readouterr().out


def test_without_playwright_the_webrtc_bench_is_skipped_before_importing_the_browser_tests(monkeypatch):
    for name in ("playwright", "playwright.sync_api"):
        monkeypatch.setitem(sys.modules, name, None)
    # The tests' module-level pytest.importorskip would raise a BaseException outside pytest: not reached.
    monkeypatch.delitem(sys.modules, "tests.integration.test_webui_browser", raising=False)
    assert "Playwright is not installed" in (bench.webrtc.unavailable() or "")


def test_the_bench_itself_refuses_to_start_without_its_prerequisites(monkeypatch, capsys):
    """`python -m bench.webrtc` directly, not through the runner: the same message, nothing started."""
    monkeypatch.setitem(sys.modules, "aiortc", None)
    bench.webrtc.main()
    assert capsys.readouterr().out.startswith("skipped: aiortc is not installed")


def test_a_skipped_bench_does_not_stop_the_ones_after_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "aiortc", None)
    ran = []
    monkeypatch.setattr(bench.webrtc, "main", _must_not_start)
    monkeypatch.setattr(bench.sip_parse, "main", lambda: ran.append("sip_parse"))
    assert _run(monkeypatch, "webrtc", "sip_parse") == 0
    assert ran == ["sip_parse"] and "=== bench.sip_parse ===" in capsys.readouterr().out
