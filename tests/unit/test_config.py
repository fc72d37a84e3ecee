"""Layered configuration: defaults, then the settings table, then flags; validated once."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import Config, ConfigError, default_realm, load_config
from appliance.errors import ApplianceError


def test_defaults_are_the_products() -> None:
    config = load_config()
    assert (config.bind_address, config.sip_udp_port, config.sip_tcp_port, config.sip_tls_port) == (
        "0.0.0.0", 5060, 5060, 5061,
    )
    assert (config.rtp_port_min, config.rtp_port_max) == (10000, 20000)
    assert config.ring_timeout == 30
    assert (config.reg_min_expires, config.reg_default_expires, config.reg_max_expires) == (60, 3600, 3600)
    assert config.codecs == ("PCMU", "PCMA", "G722")
    assert config.tone_country == "us"
    assert config.log_level == "INFO"
    assert config.data_dir == Path("var")
    assert config.realm == default_realm()


def test_default_realm_falls_back_when_the_hostname_is_unusable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "localhost")
    assert default_realm() == "pbx.local"
    monkeypatch.setattr("socket.gethostname", lambda: "Office-PBX")
    assert default_realm() == "office-pbx"


def test_settings_override_defaults_and_flags_override_settings() -> None:
    config = load_config(
        settings={"realm": "pbx.example.com", "sip_udp_port": 5070, "ring_timeout": 20},
        overrides={"sip_udp_port": 5080, "ring_timeout": None},
    )
    assert config.realm == "pbx.example.com"
    assert config.sip_udp_port == 5080  # flag wins
    assert config.ring_timeout == 20  # a flag that was not given leaves the setting alone
    assert config.sources["sip_udp_port"] == "command line"
    assert config.sources["realm"] == "setting realm"


def test_settings_that_are_not_configuration_are_ignored() -> None:
    assert load_config(settings={"webui.admin_password_hash": "x", "data_dir": "/elsewhere"}).data_dir == Path("var")


def test_values_are_normalised() -> None:
    config = load_config(settings={"codecs": ["pcma", "g722"], "log_level": "debug", "tone_country": "CN"})
    assert config.codecs == ("PCMA", "G722")
    assert config.log_level == "DEBUG"
    assert config.tone_country == "cn"
    assert load_config(settings={"codecs": "PCMU, opus"}).codecs == ("PCMU", "opus")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"bind_address": "1.2.3"}, "bind_address: '1.2.3' is not an IPv4 or IPv6 address"),
        ({"sip_udp_port": 70000}, "sip_udp_port: 70000 is not a port number"),
        ({"sip_tls_port": -1}, "sip_tls_port: -1 is not a port number"),
        ({"sip_tcp_port": 5061}, "TCP and TLS cannot both listen on port 5061"),
        ({"rtp_port_min": 20000, "rtp_port_max": 10000}, "the RTP range 20000-10000 is empty"),
        ({"rtp_port_min": 80}, "rtp_port_min: 80 is not a port number between 1024 and 65535"),
        ({"sip_udp_port": 15000}, "port 15000 lies inside the RTP range"),
        ({"realm": "bad realm"}, "realm: 'bad realm' is not a realm"),
        ({"ring_timeout": 0}, "ring_timeout: 0 s is outside"),
        ({"reg_min_expires": 600, "reg_default_expires": 300}, "need min <= default <= max"),
        ({"reg_max_expires": 0}, "registration expiries"),
        ({"codecs": []}, "at least one codec"),
        ({"codecs": ["PCMU", "G729"]}, "unknown codec(s) G729"),
        ({"codecs": ["PCMU", "pcmu"]}, "listed twice"),
        ({"tone_country": "usa"}, "not a two-letter country code"),
        ({"log_level": "LOUD"}, "'LOUD' is not one of DEBUG"),
        ({"sip_udp_port": "five"}, "'five' is not a whole number"),
        ({"sip_udp_port": True}, "True is not a whole number"),
    ],
)
def test_invalid_values_are_reported_clearly(values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(settings=values)
    assert message in str(info.value)
    assert isinstance(info.value, ApplianceError)


def test_every_problem_is_reported_at_once_with_the_layer_that_caused_it() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            settings={"realm": "bad realm"},
            overrides={"bind_address": "nowhere", "sip_udp_port": 70000},
            override_sources={"bind_address": "--bind", "sip_udp_port": "--sip-port"},
        )
    problems = info.value.problems
    assert len(problems) == 3
    assert any(p.startswith("bind_address:") and p.endswith("[--bind]") for p in problems)
    assert any(p.startswith("sip_udp_port:") and p.endswith("[--sip-port]") for p in problems)
    assert any(p.startswith("realm:") and p.endswith("[setting realm]") for p in problems)


def test_port_zero_means_any_free_port_and_is_valid() -> None:
    config = load_config(overrides={"sip_udp_port": 0, "sip_tcp_port": 0, "sip_tls_port": 0})
    assert (config.sip_udp_port, config.sip_tcp_port, config.sip_tls_port) == (0, 0, 0)


def test_config_built_in_code_validates_the_same_way(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path, bind_address="127.0.0.1", sip_udp_port=0, realm="test.local")
    assert config.validate() is config
    with pytest.raises(ConfigError):
        config.replace(bind_address="::1", ring_timeout=-5).validate()


def test_unknown_override_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        load_config(overrides={"sip_port": 5060})


def test_as_dict_is_json_friendly(tmp_path: Path) -> None:
    values = Config(data_dir=tmp_path).as_dict()
    assert values["data_dir"] == str(tmp_path)
    assert values["codecs"] == ["PCMU", "PCMA", "G722"]
    assert "sources" not in values
