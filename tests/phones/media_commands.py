"""Agent commands that act on a call's audio: DTMF, tones, WAV playback and recording.

Runs only in the agent process. Sources (tone generators, players) and the recorder are kept in the call's
``MediaLinks`` so that ``Runtime.apply_media`` can re-connect them when pjsua re-creates the audio stream
(re-INVITE, hold/unhold).
"""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from tests.phones.uaobjects import AgentCall, AgentPlayer

if TYPE_CHECKING:
    from tests.phones.agent import Runtime

DTMF_SEND = {"rfc2833": pj.PJSUA_DTMF_METHOD_RFC2833, "info": pj.PJSUA_DTMF_METHOD_SIP_INFO}
TONEGEN_MAX_MS = 32767  # ToneDesc.on_msec/off_msec are C shorts


def await_wav_final(path: str, timeout: float = 1.0) -> bool:
    """Wait until pjmedia has written a recorder's final header (data size = bytes after the header).

    Destroying a recorder only queues its removal from the conference bridge; the bridge's clock thread
    flushes the buffered samples and patches the sizes a frame or so later. Plain sleeps are enough (no
    event pumping), so this is safe inside a pjsua2 callback.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            data = Path(path).read_bytes()
        except OSError:
            data = b""
        offset = data.find(b"data", 12)
        if offset >= 0 and len(data) >= offset + 8:
            size = struct.unpack("<I", data[offset + 4:offset + 8])[0]
            if size == len(data) - offset - 8 and (size > 0 or time.monotonic() > deadline - timeout + 0.1):
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


def cmd_send_dtmf(rt: Runtime, call: str, digits: str, method: str = "rfc2833",
                  duration: int = 160, gap: int = 100) -> dict[str, Any]:
    """DTMF by RFC 2833/4733 events, SIP INFO (application/dtmf-relay, one INFO a digit) or in-band tones."""
    target = rt.call(call)
    if method == "inband":
        digit_vector = pj.ToneDigitVector()
        for char in digits:
            digit = pj.ToneDigit()
            digit.digit = char
            digit.on_msec = duration
            digit.off_msec = gap
            digit_vector.append(digit)
        gen = pj.ToneGenerator()
        gen.createToneGenerator()
        gen.playDigits(digit_vector, False)
        target.links.extra["inband"] = gen
        if target.audio is not None:
            gen.startTransmit(target.audio)
        return {}
    prm = pj.CallSendDtmfParam()
    prm.digits = digits
    prm.method = DTMF_SEND[method]
    prm.duration = duration
    target.sendDtmf(prm)
    return {}


def cmd_play_tone(rt: Runtime, call: str, freqs: list[int], on_ms: int | None = None, off_ms: int = 0,
                  loop: bool = True, volume: int = 0) -> dict[str, Any]:
    """Send a one- or two-frequency tone; on_ms None means continuous (longest on-time, looped)."""
    if not 1 <= len(freqs) <= 2:
        raise ValueError("play_tone takes one or two frequencies")
    on = TONEGEN_MAX_MS if on_ms is None else on_ms
    if not 0 < on <= TONEGEN_MAX_MS or not 0 <= off_ms <= TONEGEN_MAX_MS:
        raise ValueError(f"tone on/off times must be within 1..{TONEGEN_MAX_MS} ms (C short)")
    target = rt.call(call)
    _stop_tone(target)
    desc = pj.ToneDesc()
    desc.freq1 = int(freqs[0])
    desc.freq2 = int(freqs[1]) if len(freqs) == 2 else 0
    desc.on_msec = on
    desc.off_msec = off_ms
    desc.volume = volume
    tones = pj.ToneDescVector()
    tones.append(desc)
    gen = pj.ToneGenerator()
    gen.createToneGenerator()
    gen.play(tones, loop or on_ms is None)
    target.links.tone = gen
    if target.audio is not None:
        gen.startTransmit(target.audio)
    return {}


def _stop_tone(call: AgentCall) -> None:
    gen = call.links.tone
    if gen is not None:
        gen.stop()
        if call.audio is not None:
            gen.stopTransmit(call.audio)
        call.links.tone = None


def cmd_stop_tone(rt: Runtime, call: str) -> dict[str, Any]:
    target = rt.call(call)
    _stop_tone(target)
    inband = target.links.extra.pop("inband", None)
    if inband is not None:
        inband.stop()
    return {}


def cmd_play_wav(rt: Runtime, call: str, path: str, loop: bool = False) -> dict[str, Any]:
    target = rt.call(call)
    cmd_stop_wav(rt, call)
    player = AgentPlayer(rt, call, path)
    player.createPlayer(path, 0 if loop else pj.PJMEDIA_FILE_NO_LOOP)
    target.links.player = player
    if target.audio is not None:
        player.startTransmit(target.audio)
    return {}


def cmd_stop_wav(rt: Runtime, call: str) -> dict[str, Any]:
    target = rt.call(call)
    player = target.links.player
    if player is not None and target.audio is not None:
        player.stopTransmit(target.audio)
    target.links.player = None
    return {}


def cmd_start_recording(rt: Runtime, call: str, path: str) -> dict[str, Any]:
    """Record what the phone hears: the call's decoded audio at the bridge clock (16 kHz, 16-bit mono)."""
    target = rt.call(call)
    if target.links.recorder is not None:
        raise ValueError(f"call {call} is already recording to {target.links.recorder_path}")
    recorder = pj.AudioMediaRecorder()
    recorder.createRecorder(path)
    target.links.recorder = recorder
    target.links.recorder_path = path
    if target.audio is not None:
        target.audio.startTransmit(recorder)
    return {"path": path}


def cmd_stop_recording(rt: Runtime, call: str) -> dict[str, Any]:
    """Destroy the recorder: only then does pjmedia write the final RIFF/data sizes."""
    target = rt.calls.get(call)
    if target is None:  # already ended and released: its recording was finalised then
        return {"path": ""}
    recorder, path = target.links.recorder, target.links.recorder_path
    if recorder is None:
        return {"path": ""}
    if target.audio is not None and not target.disconnected:
        target.audio.stopTransmit(recorder)
    target.links.recorder, target.links.recorder_path = None, ""
    del recorder
    return {"path": path, "final": await_wav_final(path)}
