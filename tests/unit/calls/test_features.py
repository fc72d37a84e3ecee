"""Feature codes: profiles, matching and the refusal of colliding or unreachable codes."""

from __future__ import annotations

import pytest

from appliance.calls.features import FeatureCodeConflict, FeatureCodes


@pytest.fixture
def coovox() -> FeatureCodes:
    return FeatureCodes("coovox")


@pytest.mark.parametrize("dialled,feature,argument", [
    ("*74", "dnd_on", ""), ("*074", "dnd_off", ""), ("**11", "announce_wan", ""), ("**12", "announce_lan", ""),
    ("**13", "announce_extension", ""), ("**2002", "pickup_directed", "2002"), ("*61", "voicemail_own", ""),
    ("*60", "voicemail_main", ""), ("*42002", "voicemail_leave", "2002"), ("*4", "park", ""),
    ("*5670000", "voicemail_shared", "70000"), ("*7100123456", "forward_all_on", "00123456"),
    ("*55*12312359", "wakeup_book", "12312359"), ("*55", "wakeup_menu", ""),
])
def test_coovox_codes_match(coovox, dialled, feature, argument):
    match = coovox.match(dialled)
    assert match is not None and (match.feature.name, match.argument) == (feature, argument)


@pytest.mark.parametrize("dialled", ["2002", "*", "*9", "**", "*71", "*4abc", "#2002"])
def test_numbers_and_incomplete_codes_are_not_features(coovox, dialled):
    assert coovox.match(dialled) is None


def test_the_default_profiles_are_consistent():
    for profile in ("coovox", "3cx", "portsip"):
        FeatureCodes(profile).check(extensions=["1001", "2002"])


def test_3cx_profile_has_presence_on_the_coovox_voicemail_codes():
    codes = FeatureCodes("3cx")
    assert codes.match("*60").feature.name == "presence_available"
    assert codes.match("999").feature.name == "voicemail_main"


def test_an_override_that_collides_is_refused():
    codes = FeatureCodes("coovox", {"dnd_on": "*61"})
    with pytest.raises(FeatureCodeConflict) as err:
        codes.check()
    assert "share the code *61" in str(err.value)


def test_an_argument_code_that_swallows_another_code_is_refused():
    codes = FeatureCodes("coovox", {"forward_all_on": "*7"})
    with pytest.raises(FeatureCodeConflict) as err:
        codes.check()
    assert "unreachable" in str(err.value)


def test_an_extension_shadowed_by_an_exact_code_is_reported():
    with pytest.raises(FeatureCodeConflict) as err:
        FeatureCodes("coovox").check(extensions=["11"])
    assert "extension 11" in str(err.value)


def test_an_empty_override_switches_a_code_off():
    codes = FeatureCodes("coovox", {"announce_wan": ""})
    assert codes.match("**11").feature.name == "pickup_directed"  # now just a pickup of extension 11


def test_the_table_lists_codes_with_descriptions(coovox):
    rows = {name: (code, text) for code, text, name in coovox.table()}
    assert rows["dnd_on"] == ("*74", "Do not disturb: on")
    assert rows["forward_all_on"][0] == "*71<number>"
