"""The codec registry: names, payload types, clock rates and 8 kHz frames in and out."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.media import codecs, g722
from appliance.media.codecs import STATIC_PAYLOAD_TYPES, new_codec, supported_codecs
from tests.unit.media.test_g722 import snr_db, tone


def test_static_payload_types_follow_rfc3551():
    assert STATIC_PAYLOAD_TYPES == {"PCMU": 0, "PCMA": 8, "G722": 9}
    for name in supported_codecs():
        assert new_codec(name).payload_type == STATIC_PAYLOAD_TYPES[name]


def test_supported_codecs_lists_g711_first_and_g722_only_when_available():
    names = supported_codecs()
    assert names[:2] == ["PCMU", "PCMA"]
    assert ("G722" in names) == g722.available()


def test_unknown_codec_raises_key_error():
    with pytest.raises(KeyError, match="OPUS"):
        new_codec("OPUS")


def test_names_are_case_insensitive():
    assert new_codec("pcmu").name == "PCMU"


def test_g722_unavailable_raises_key_error(monkeypatch):
    monkeypatch.setattr(g722, "available", lambda: False)
    assert "G722" not in supported_codecs()
    with pytest.raises(KeyError, match="libspandsp"):
        new_codec("G722")


@pytest.mark.parametrize("name", supported_codecs())
def test_20ms_frame_round_trip_keeps_a_tone(name):
    codec = new_codec(name)
    assert codec.rtp_clock_rate == 8000  # also for G.722, RFC 3551 §4.5.2
    pcm = tone(1000, 8000, 8000)
    payloads = [codec.encode(pcm[i:i + 160]) for i in range(0, pcm.size, 160)]
    assert {len(p) for p in payloads} == {160}
    assert codec.timestamp_increment(160) == 160
    out = np.concatenate([codec.decode(p) for p in payloads])
    assert out.dtype == np.int16 and out.size == pcm.size
    assert snr_db(out[400:], 1000, 8000) > 30


@pytest.mark.parametrize("name", supported_codecs())
def test_silence_payload_decodes_to_near_zero(name):
    codec = new_codec(name)
    assert np.abs(codec.decode(codec.silence(160)).astype(int)).max() <= 8


def test_each_stream_gets_its_own_state():
    if not g722.available():
        pytest.skip("libspandsp not installed")
    a, b = new_codec("G722"), new_codec("G722")
    assert a is not b and a._encoder is not b._encoder
    assert isinstance(a, codecs.AudioCodec)
