"""SIPp against the daemon: an independent SIP implementation registers and calls."""

from __future__ import annotations

import pytest

from tests.sipp import run_sipp, scenario

pytestmark = pytest.mark.integration


def test_sipp_registers_with_digest_and_calls_an_extension(pbx_factory, phone_factory, tmp_path):
    pbx = pbx_factory()
    pbx.set_setting("digest_algorithms", "MD5")  # SIPp 3.6 answers only the first challenge, and only MD5
    pbx.start()
    bob = phone_factory("bob")
    pbx.register(bob, "2002")
    bob.set_auto_answer(200)
    result = run_sipp(scenario("register_and_call.xml"), pbx.address, timeout=15, workdir=tmp_path / "sipp",
                      variables={"pbxuser": "2001", "callee": "2002", "domain": pbx.realm},
                      extra_args=["-au", "2001", "-ap", pbx.secrets["2001"]])
    result.check()
    assert result.successful_calls == 1
    [cdr] = pbx.wait_cdrs(1)
    assert (cdr["caller"], cdr["final_called"], cdr["status"]) == ("2001", "2002", "answered")
