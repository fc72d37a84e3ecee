"""One RTP/RTCP endpoint of the media engine: a port pair facing one phone or trunk.

The receive handler is the hot path of the whole PBX (every packet of every call goes through it), so it is
written flat: no RtpPacket object, no numpy, no jitter buffer unless this endpoint's audio is decoded; a relayed
packet costs a tuple comparison, a few integer operations for the RFC 3550 statistics, at most one byte
rewritten, and a sendto on the peer's socket.  Everything that needs a timer (RTCP, timeouts, generated audio)
is driven by the engine's single tick, never by per-endpoint tasks.
"""

from __future__ import annotations

import logging
import random
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.media import rtcp_session
from appliance.media.codecs import AudioCodec, new_codec
from appliance.media.rtp import RtpPacket
from appliance.media.sockets import SocketPair

if TYPE_CHECKING:
    from appliance.media.engine import MediaEngine
    from appliance.media.players import DtmfOut, Player, Recorder

log = logging.getLogger(__name__)

__all__ = ["Endpoint", "payload_offset"]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_HEADER = struct.Struct("!BBHII")
_TS = struct.Struct("!I")


def payload_offset(data: bytes) -> int:
    """Where the payload starts in an RTP packet: after the CSRC list and any header extension (RFC 3550 §5.3.1)."""
    offset = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10 and len(data) >= offset + 4:
        offset += 4 + 4 * ((data[offset + 2] << 8) | data[offset + 3])
    return offset


class Endpoint:
    """An RTP port pair; created by `MediaEngine.create_endpoint()`, driven by the engine's tick."""

    # Slots: a thousand endpoints stay small, and the hot path's attribute reads skip the instance dict.
    __slots__ = ("_base_seq", "_codec", "_codec_pt", "_cycles", "_detect_inband", "_detector", "_dtmf_out",
                 "_dtmf_rx", "_engine", "_jitter", "_jitter_ts", "_latched", "_max_seq", "_offload", "_pending",
                 "_rate", "_receiving", "_relay", "_relay_map", "_remote", "_remote_ssrc", "_rtcp_port_given",
                 "_rtcp_remote", "_rtcp_sendto", "_rx_fifo", "_rx_mark", "_sdp_remote", "_sendto", "_seq",
                 "_sockets", "_talking", "_tap", "_te_pt", "_time", "_timed_out", "_transit", "_ts",
                 "_tx_until", "bytes_in", "bytes_out", "closed", "codec_name", "direction", "dropped",
                 "generated_bytes", "generated_packets", "key", "local_host", "local_port", "on_dtmf", "on_timeout",
                 "packets_in", "packets_out", "payload_type", "player", "ptime", "recorder", "relay_dtmf", "rtcp",
                 "rtcp_mux", "ssrc", "telephone_event_pt", "timeout")

    def __init__(self, engine: MediaEngine, key: int, host: str, port: int) -> None:
        self._engine = engine
        self.key = key
        self.local_host = host
        self.local_port = port
        self._sockets: SocketPair | None = None
        self._sendto: Callable[[bytes, Any], Any] = _drop
        self._rtcp_sendto: Callable[[bytes, Any], Any] = _drop
        self._time = engine.now
        # Addresses: where we send, which source we accept (None = latch to the next one), RTCP target.
        self._remote: tuple[str, int] | None = None
        self._sdp_remote: tuple[str, int] | None = None
        self._latched: tuple[str, int] | None = None
        self._rtcp_remote: tuple[str, int] | None = None
        self._rtcp_port_given: int | None = None
        self.rtcp_mux = False
        # Negotiated media.
        self.codec_name: str | None = None
        self.payload_type: int | None = None
        self.telephone_event_pt: int | None = None
        self.ptime = 20
        self.direction = "sendrecv"
        self._codec: AudioCodec | None = None
        self._te_pt = -1        # -1 never matches a 7-bit payload type
        self._codec_pt = -1
        self._receiving = True
        # Routing state applied by the engine (see routing.py).
        self._relay: Endpoint | None = None
        self._relay_map: dict[int, tuple[int, bytes | None]] | None = None
        self._tap = False
        self._jitter: Any = None
        self._rx_fifo: np.ndarray | None = None
        self._dtmf_rx: Any = None
        self.relay_dtmf = True
        # Relay workers (D-engine-7): (worker, pair id) while a worker relays this endpoint's RTP.
        self._offload: Any = None
        # Receive statistics, RFC 3550 A.1/A.8, kept inline for the hot path.
        self.packets_in = 0
        self.bytes_in = 0
        self.packets_out = 0
        self.bytes_out = 0
        self.dropped = 0
        self._base_seq = -1
        self._max_seq = 0
        self._cycles = 0
        self._transit = 0.0
        self._jitter_ts = 0.0
        self._rate = 8000.0       # RTP clock of the received stream
        self._remote_ssrc = 0
        # Generated audio: our own SSRC, sequence and timestamp (RFC 3550 §5.1).
        self.ssrc = random.getrandbits(32)
        self._seq = random.getrandbits(16)
        self._ts = random.getrandbits(32)
        self._talking = False
        self._tx_until = 0.0      # when the audio we last generated ends
        self._pending: np.ndarray | None = None
        self.generated_packets = 0
        self.generated_bytes = 0
        # Features.
        self.player: Player | None = None
        self.recorder: Recorder | None = None
        self._dtmf_out: DtmfOut | None = None
        self._detector: Any = None
        self._detect_inband = False
        self.on_dtmf: Callable[[str], Any] | None = None
        self.on_timeout: Callable[[], Any] | None = None
        self.timeout = 60.0
        # (packets_in, time) when reception was last seen progressing; the clock starts at creation, so an
        # endpoint whose peer never sends times out `timeout` seconds after it was made, not at once.
        self._rx_mark = (0, self._time())
        self._timed_out = False
        self.rtcp = rtcp_session.RtcpState(self)
        self.closed = False

    # ------------------------------------------------------------------ configuration (called by the B2BUA)

    def set_remote(self, host: str, port: int, rtcp_port: int | None = None) -> None:
        """Where the phone said (in SDP) it receives; re-opens latching to the next source that sends to us."""
        self._engine._reclaim((self,))
        self._sdp_remote = self._remote = (host, port)
        self._rtcp_port_given = rtcp_port
        self._rtcp_remote = (host, rtcp_port if rtcp_port is not None else port + 1)
        if self.rtcp_mux:
            self._rtcp_remote = self._remote
        self._latched = None
        self._rx_mark = (self.packets_in, self._time())
        self._timed_out = False

    def set_codec(self, codec_name: str, payload_type: int, telephone_event_pt: int | None = None,
                  ptime: int = 20) -> None:
        """The negotiated codec; KeyError when the engine cannot encode it (relay-only codecs still relay)."""
        if ptime <= 0 or ptime % 10:
            raise ValueError(f"ptime must be a positive multiple of 10 ms, not {ptime}")
        self.codec_name = codec_name.upper()
        self.payload_type = payload_type
        self.telephone_event_pt = telephone_event_pt
        self.ptime = ptime
        self._codec_pt = payload_type
        self._te_pt = telephone_event_pt if telephone_event_pt is not None else -1
        try:
            self._codec = new_codec(codec_name)
        except KeyError:
            self._codec = None
            log.info("endpoint %s: codec %s can only be relayed", self.local_port, codec_name)
        self._rate = float(self._codec.rtp_clock_rate) if self._codec else 8000.0
        self._pending = None
        self._jitter = None
        self._rx_fifo = None
        self._engine._replan(self)

    def set_direction(self, direction: str) -> None:
        """The negotiated direction from this side: sendonly = we send only, recvonly = we only receive."""
        if direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {direction!r}")
        self.direction = direction
        self._receiving = direction in ("sendrecv", "recvonly")
        self._rx_mark = (self.packets_in, self._time())
        self._timed_out = False
        self._engine._replan(self)

    def set_rtcp_mux(self, enabled: bool) -> None:
        """RFC 5761: RTCP on the RTP port (negotiated with a=rtcp-mux)."""
        self._engine._reclaim((self,))
        self.rtcp_mux = enabled
        if enabled and self._remote is not None:
            self._rtcp_remote = self._remote

    @property
    def can_send(self) -> bool:
        return self.direction in ("sendrecv", "sendonly")

    @property
    def detect_inband(self) -> bool:
        return self._detect_inband

    @detect_inband.setter
    def detect_inband(self, enabled: bool) -> None:
        self._detect_inband = bool(enabled)
        self._detector = None
        self._engine._replan(self)

    @property
    def remote(self) -> tuple[str, int] | None:
        return self._remote

    # ------------------------------------------------------------------ features (see players.py)

    def play(self, source: Any, loop: bool = False) -> Player:
        """Play a ToneSpec, a WAV path or an int16 array to the phone, replacing what it hears meanwhile."""
        return self._engine._play(self, source, loop)

    def record(self, path: str) -> Recorder:
        """Record what this endpoint receives, decoded to 8 kHz PCM16 WAV at `path`."""
        return self._engine._record(self, path)

    def send_dtmf(self, digit: str, duration_ms: int = 100) -> None:
        """Send one digit: RFC 4733 when a telephone-event type is negotiated, else in-band tones."""
        self._engine._send_dtmf(self, digit, duration_ms)

    def stats(self) -> dict[str, Any]:
        """Counters and quality figures for monitoring and CDRs."""
        expected = self._expected()
        return {
            "packets_in": self.packets_in, "bytes_in": self.bytes_in,
            "packets_out": self.packets_out, "bytes_out": self.bytes_out,
            "lost": max(0, expected - self.packets_in) if expected else 0,
            "jitter_ms": round(self._jitter_ts * 1000.0 / self._rate, 3),
            "dropped": self.dropped,
            "codec": self.codec_name, "payload_type": self.payload_type, "direction": self.direction,
            "local": _hostport(self.local_host, self.local_port),
            "remote": _hostport(*self._remote[:2]) if self._remote else None,
            "latched": self._latched is not None and self._latched != self._sdp_remote,
            **self.rtcp.stats(),
        }

    async def close(self) -> None:
        """Stop everything on this endpoint and release its ports."""
        await self._engine._close_endpoint(self)

    # ------------------------------------------------------------------ hot path

    def _on_rtp(self, data: bytes, addr: tuple[str, int]) -> None:
        """datagram_received of the RTP socket."""
        if addr != self._latched and not self._latch(addr):
            return
        if len(data) < 12 or data[0] & 0xC0 != 0x80:
            self.dropped += 1
            return
        b1 = data[1]
        if 191 < b1 < 224:  # RFC 5761 §4: RTCP on the RTP port
            self.rtcp.receive(data, self._time())
            return
        self.packets_in += 1
        self.bytes_in += len(data)
        # RFC 3550 A.1 (sequence, without probation) and A.8 (jitter), on raw bytes.
        seq = (data[2] << 8) | data[3]
        delta = (seq - self._max_seq) & 0xFFFF
        if self._base_seq < 0 or 3000 <= delta <= 65436:
            self._restart_seq(data, seq)
        elif delta < 3000:
            if seq < self._max_seq:
                self._cycles += 65536
            self._max_seq = seq
            arrival = self._time()
            transit = arrival * self._rate - _TS.unpack_from(data, 4)[0]
            d = abs(transit - self._transit)
            self._transit = transit
            if d < self._rate:  # larger steps are a new talk-spurt or source, not jitter
                self._jitter_ts += (d - self._jitter_ts) * 0.0625
        if not self._receiving:
            return
        pt = b1 & 0x7F
        if pt == self._te_pt:
            self._on_event(data)
            if not self.relay_dtmf:
                return
        relay = self._relay
        if relay is not None:
            table = self._relay_map
            if table is not None:
                entry = table.get(pt)
                if entry is None:
                    relay = None
                else:
                    data = _rewrite(data, b1, entry)
            if relay is not None and relay._remote is not None:
                try:
                    relay._sendto(data, relay._remote)
                except OSError:  # socket buffer full, or an ICMP error: a lost packet, as on the wire
                    relay.dropped += 1
                else:
                    relay.packets_out += 1
                    relay.bytes_out += len(data)
        if self._tap and pt == self._codec_pt:
            self._tap_packet(data)

    def _restart_seq(self, data: bytes, seq: int) -> None:
        """First packet, or a sequence jump (new source, restarted sender): re-anchor, keeping the loss so far."""
        lost_before = max(0, self._expected() - (self.packets_in - 1))
        self._remote_ssrc = _HEADER.unpack_from(data)[4]
        self._base_seq = seq + 1 - (self.packets_in + lost_before)
        self._max_seq = seq
        self._cycles = 0
        self._transit = self._time() * self._rate - _TS.unpack_from(data, 4)[0]

    def _expected(self) -> int:
        if self._base_seq < 0:
            return 0
        return self._cycles + self._max_seq - self._base_seq + 1

    def _latch(self, addr: tuple[str, int]) -> bool:
        """Symmetric RTP (RFC 4961, "comedia"): adopt the first source seen; ignore others until re-opened."""
        if self._latched is not None:
            self.dropped += 1
            return False
        self._latched = addr
        if addr != self._remote:
            if self._remote is not None:
                log.info("endpoint %s: media from %s:%s, not %s:%s as signalled; sending there",
                         self.local_port, addr[0], addr[1], *self._remote)
            self._remote = addr
            self._rtcp_remote = addr if self.rtcp_mux else (addr[0], addr[1] + 1)
        return True

    def _on_rtcp(self, data: bytes, addr: tuple[str, int]) -> None:
        """datagram_received of the RTCP socket: accept reports from the latched host only."""
        if self._latched is not None and addr[0] != self._latched[0]:
            self.dropped += 1
            return
        if self._rtcp_remote != addr and self._latched is not None:
            self._rtcp_remote = addr
        self.rtcp.receive(data, self._time())

    def _on_event(self, data: bytes) -> None:
        """An RFC 4733 packet: report each digit once (the receiver de-duplicates by timestamp)."""
        if self._dtmf_rx is None:
            from appliance.media.dtmf import DtmfReceiver
            self._dtmf_rx = DtmfReceiver()
        try:
            digit = self._dtmf_rx.feed(RtpPacket.parse(data))
        except ValueError as err:
            log.debug("endpoint %s: bad telephone-event packet: %s", self.local_port, err)
            return
        if digit:
            self._engine._emit_dtmf(self, digit)

    def _tap_packet(self, data: bytes) -> None:
        """Queue a received audio packet for decoding on the tick."""
        try:
            packet = RtpPacket.parse(data)
        except ValueError:
            self.dropped += 1
            return
        if self._jitter is None:
            self._jitter = self._engine._new_jitter_buffer(self)
        self._jitter.put(packet, self._time())

    # ------------------------------------------------------------------ tick-driven work (called by the engine)

    def _pull_frame(self, now: float) -> np.ndarray | None:
        """This tick's decoded input frame, or None when nothing usable arrived (the mixer treats it as silence).

        Streams packetised at other than 20 ms go through a small sample FIFO: the jitter buffer (paced in
        packets) is asked for a packet only when fewer than 160 samples are left.
        """
        if self._jitter is None or self._codec is None:
            return None
        if self.ptime == 20:
            return self._decode(self._jitter.get(now))
        fifo = self._rx_fifo
        while fifo is None or len(fifo) < 160:
            pcm = self._decode(self._jitter.get(now))
            if pcm is None:
                pcm = np.zeros(self.ptime * 8, dtype=np.int16)
            fifo = pcm if fifo is None else np.concatenate((fifo, pcm))
        self._rx_fifo = fifo[160:] if len(fifo) > 160 else None
        frame = fifo[:160]
        return frame if frame.any() else None

    def _decode(self, packet: RtpPacket | None) -> np.ndarray | None:
        if packet is None or self._codec is None:
            return None
        try:
            return self._codec.decode(packet.payload)
        except (ValueError, RuntimeError) as err:
            log.debug("endpoint %s: undecodable payload: %s", self.local_port, err)
            return None

    def _send_frame(self, frame: np.ndarray, now: float) -> None:
        """Send one 20 ms frame of generated audio, packetised at this endpoint's ptime."""
        codec = self._codec
        if codec is None or self._remote is None or not self.can_send:
            return
        if self.ptime != 20:
            pending = frame if self._pending is None else np.concatenate((self._pending, frame))
            need = self.ptime * 8
            while len(pending) >= need:
                self._send_payload(codec.encode(pending[:need]), need, now, self._codec_pt)
                pending = pending[need:]
            self._pending = pending if len(pending) else None
            return
        self._send_payload(codec.encode(frame), len(frame), now, self._codec_pt)

    def _send_payload(self, payload: bytes, samples: int, now: float, pt: int, *, marker: bool = False,
                      advance: bool = True) -> None:
        """Send a generated packet with our own SSRC; the first of a talk-spurt gets the marker bit."""
        if not self._talking:
            # A new talk-spurt: the timestamp moves on by the time nothing was sent (RFC 3550 §5.1).
            gap = now - self._tx_until
            if self._tx_until and gap > 0.01:
                self._ts = (self._ts + round(gap * 50) * 160) & 0xFFFFFFFF
            marker = True
            self._talking = True
        self._seq = (self._seq + 1) & 0xFFFF
        header = _HEADER.pack(0x80, (0x80 if marker else 0) | pt, self._seq, self._ts, self.ssrc)
        if advance:
            increment = self._codec.timestamp_increment(samples) if self._codec else samples
            self._ts = (self._ts + increment) & 0xFFFFFFFF
            self._tx_until = now + samples / 8000.0
        else:
            self._tx_until = now
        packet = header + payload
        if self._remote is not None:
            try:
                self._sendto(packet, self._remote)
            except OSError as err:
                log.debug("endpoint %s: send failed: %s", self.local_port, err)
                return
        self.packets_out += 1
        self.bytes_out += len(packet)
        self.generated_packets += 1
        self.generated_bytes += len(payload)

    def _end_talkspurt(self) -> None:
        """Called when generated audio stops, so the next generated packet carries the marker bit."""
        self._talking = False
        self._pending = None

    def _housekeeping(self, now: float) -> None:
        """Once a second: RTP timeout, re-opening a silent latch, RTCP reports."""
        count, since = self._rx_mark
        if self.packets_in != count:
            self._rx_mark = (self.packets_in, now)
            self._timed_out = False
        else:
            silent = now - since
            # (a relay worker re-opens the latches of the endpoints it holds itself)
            if silent >= 2.0 and self._latched is not None and self._offload is None:
                self._latched = None  # the source went quiet: accept whoever sends next (NAT rebinding)
            if (self.timeout and self._receiving and self._remote is not None and not self._timed_out
                    and silent >= self.timeout):
                self._timed_out = True
                self._engine._emit_timeout(self)
        self.rtcp.maybe_send(now)

    def _send_rtcp(self, data: bytes) -> None:
        if self._rtcp_remote is None:
            return
        try:
            (self._sendto if self.rtcp_mux else self._rtcp_sendto)(data, self._rtcp_remote)
        except OSError as err:
            log.debug("endpoint %s: RTCP send failed: %s", self.local_port, err)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _drop(data: bytes, addr: Any) -> None:
    """The send function of an endpoint whose socket is not open (yet, or any more)."""


def _rewrite(data: bytes, b1: int, entry: tuple[int, bytes | None]) -> bytearray:
    """Map the payload type (keeping the marker bit) and, for a µ-law/A-law pair, translate the payload bytes."""
    new_pt, table = entry
    packet = bytearray(data)
    packet[1] = (b1 & 0x80) | new_pt
    if table is not None:
        start = payload_offset(data)
        end = len(data) - (data[-1] if data[0] & 0x20 else 0)
        packet[start:end] = data[start:end].translate(table)
    return packet
