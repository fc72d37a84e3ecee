"""SMTP settings: validation of form values and storage as smtp.* settings."""

from __future__ import annotations

import pytest

from appliance.store import SettingsStore
from appliance.store.exceptions import InvalidValue
from appliance.store.smtp import SmtpSettings, load_smtp, save_smtp, validate_smtp


def test_defaults_when_nothing_is_stored(db):
    smtp = load_smtp(SettingsStore(db))
    assert smtp == SmtpSettings() and not smtp.configured


def test_saved_settings_load_back(db):
    settings = SettingsStore(db)
    smtp = validate_smtp({"host": "mail.example.com", "port": "465", "security": "tls", "user": "pbx",
                          "password": "pw", "from_address": "pbx@example.com"})
    save_smtp(settings, smtp)
    assert load_smtp(settings) == smtp and smtp.configured
    assert settings.get("smtp.host") == "mail.example.com"


def test_the_port_defaults_to_the_security_modes_port():
    assert validate_smtp({"host": "m.example", "security": "tls", "from_address": "a@b.example"}).port == 465
    assert validate_smtp({"host": "m.example", "security": "none", "from_address": "a@b.example"}).port == 25


@pytest.mark.parametrize("values, field", [
    ({"host": "bad host!"}, "host"),
    ({"host": "m.example", "port": "70000", "from_address": "a@b.example"}, "port"),
    ({"host": "m.example", "port": "x", "from_address": "a@b.example"}, "port"),
    ({"host": "m.example", "security": "ssl3", "from_address": "a@b.example"}, "security"),
    ({"host": "m.example", "from_address": "nobody"}, "from_address"),
    ({"host": "m.example"}, "from_address"),
    ({"host": "m.example", "from_address": "a@b.example", "user": "a\nb"}, "user"),
])
def test_bad_values_name_their_field(values, field):
    with pytest.raises(InvalidValue) as err:
        validate_smtp(values)
    assert err.value.field == field
