"""Rendered prompts for the tests that need real espeak-ng audio (built once per test session)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DIGIT_PROMPTS = [f"digit_{d}" for d in range(10)] + ["sym_dot", "sym_star", "sym_pound", "zh_yao",
                                                      "net_your_ip_address_is", "num_13", "num_30", "you_have"]

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.fixture(scope="session")
def digit_prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rendered directory with the digits and a few phrases in en, zh and ru."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from appliance.prompts.build import build

    out = tmp_path_factory.mktemp("rendered")
    build(out, ["en", "zh", "ru"], only=DIGIT_PROMPTS, jobs=2)
    return out
