"""The asyncio media engine the B2BUA drives: endpoints, two-party relays, conferences, players and recorders.

One engine owns a UDP port range and ONE 20 ms clock task for everything clocked (transcoding, mixing, players,
recorders, DTMF senders, RTCP and timeouts).  Two-party calls whose legs share a codec are relayed packet by
packet inside the receive handler and never reach the clock.  Who hears whom is recomputed by the pure
`routing.plan_routes` each time a connection, player, recorder or direction changes.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import itertools
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from appliance.errors import ApplianceError
from appliance.media.clock import TickClock
from appliance.media.endpoint import Endpoint
from appliance.media.mixer import Mixer, mix_outputs, silence
from appliance.media.offload import CHECK_TICKS, RelayWorkers
from appliance.media.players import ArraySource, DtmfOut, Player, Recorder, ToneSource
from appliance.media.routing import Route
from appliance.media.rtp import ntp_timestamp
from appliance.media.sockets import IO_MODES, open_pair
from appliance.media.switchboard import Switchboard

log = logging.getLogger(__name__)

__all__ = ["MediaEngine", "MediaError", "PortsExhausted"]

HOUSEKEEPING_TICKS = 50  # once a second


class MediaError(ApplianceError):
    """A media engine request that cannot be carried out."""


class PortsExhausted(MediaError):
    """No free even/odd RTP/RTCP port pair is left in the configured range."""


class PortAllocator:
    """Even RTP ports of a range, handed out round-robin so a just-freed port is not reused at once."""

    def __init__(self, port_min: int, port_max: int) -> None:
        first = port_min + (port_min % 2)
        self.ports = range(first, port_max, 2)  # port+1 must be <= port_max
        if not self.ports:
            raise ValueError(f"RTP port range {port_min}-{port_max} holds no even/odd pair")
        self.in_use: set[int] = set()
        self._cursor = 0

    def candidates(self) -> Iterator[int]:
        """Free ports in the order to try them, starting after the last one handed out (lazily: O(1) each)."""
        ports, n = self.ports, len(self.ports)
        for i in range(n):
            port = ports[(self._cursor + i) % n]
            if port not in self.in_use:
                yield port

    def take(self, port: int) -> None:
        self.in_use.add(port)
        self._cursor = (self.ports.index(port) + 1) % len(self.ports)

    def release(self, port: int) -> None:
        self.in_use.discard(port)


class MediaEngine:
    """Create with the address and port range to use, `await start()`, then create endpoints and connect them."""

    def __init__(self, host: str = "127.0.0.1", port_min: int = 10000, port_max: int = 20000,
                 tone_country: str = "us", *, tick: float = 0.020, jitter_min_ms: int = 40,
                 jitter_max_ms: int = 200, cname: str | None = None, io: str = "reader",
                 clock: Callable[[], float] = time.monotonic, relay_workers: int = 0) -> None:
        if io not in IO_MODES:
            raise ValueError(f"unknown io mode {io!r}; use one of {', '.join(IO_MODES)}")
        self.host = host
        self.io = io
        self.now = clock
        self.ports = PortAllocator(port_min, port_max)
        self.tone_country = tone_country
        self.jitter_min_ms = jitter_min_ms
        self.jitter_max_ms = jitter_max_ms
        self.cname = cname or f"pbx@{host}"
        self.clock = TickClock(tick)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._wall_anchor = (0.0, 0.0)
        self._keys = itertools.count(1)
        self.endpoints: dict[int, Endpoint] = {}
        self.switchboard = Switchboard()
        self._players: list[Player] = []
        self._tones: Any = None
        # Relay worker processes for settled two-party relays (D-engine-7); 0 = every packet stays in here.
        if relay_workers < 0:
            raise ValueError(f"relay_workers must be 0 or more, not {relay_workers}")
        if relay_workers and io != "reader":
            log.info("relay workers need io='reader'; relaying in this process only")
            relay_workers = 0
        self.relay_workers = relay_workers
        self.offload: RelayWorkers | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the clock; endpoints can be created from now on."""
        self._loop = asyncio.get_running_loop()
        # The only wall-clock reading: anchors RTCP NTP timestamps to the engine's monotonic clock.
        self._wall_anchor = (time.time(), self.now())
        self._clock_task = asyncio.create_task(self._run_clock(), name="media-clock")
        if self.relay_workers:
            self.offload = RelayWorkers(self, self.relay_workers)
            self.switchboard.before_replan = self.offload.reclaim
            self.offload.start(self._loop)

    async def close(self) -> None:
        """Stop the relay workers, close every endpoint and stop the clock."""
        if self.offload is not None:
            self.switchboard.before_replan = None
            await self.offload.close()
            self.offload = None
        for endpoint in list(self.endpoints.values()):
            await self._close_endpoint(endpoint)
        if self._clock_task is not None:
            self._clock_task.cancel()
            try:
                await self._clock_task
            except asyncio.CancelledError:
                pass
            self._clock_task = None

    def ntp(self, now: float) -> int:
        """64-bit NTP timestamp for a loop time (RTCP SR, RTT)."""
        wall, mono = self._wall_anchor
        return ntp_timestamp(wall + (now - mono))

    @property
    def tones(self) -> Any:
        """The country's tone set (tones.tone_set): .dial .ringback .busy .congestion .call_waiting."""
        if self._tones is None:
            from appliance.media.tones import tone_set
            self._tones = tone_set(self.tone_country)
        return self._tones

    # ------------------------------------------------------------------ endpoints

    async def create_endpoint(self) -> Endpoint:
        """Bind an even RTP port and the next odd one for RTCP, skipping ports other programs hold."""
        if self._loop is None:
            raise MediaError("MediaEngine.start() must be awaited before creating endpoints")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        busy = 0
        for port in self.ports.candidates():
            socks = []
            try:
                for p in (port, port + 1):
                    sock = socket.socket(family, socket.SOCK_DGRAM)
                    socks.append(sock)
                    sock.setblocking(False)
                    sock.bind((self.host, p))
            except OSError as err:
                for sock in socks:
                    sock.close()
                if err.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise MediaError(f"cannot bind RTP port {port} on {self.host}: {err}") from err
                busy += 1
                continue
            self.ports.take(port)
            endpoint = Endpoint(self, next(self._keys), self.host, port)
            try:
                pair = await open_pair(self._loop, socks, self.io, endpoint._on_rtp, endpoint._on_rtcp)
            except BaseException:
                self.ports.release(port)
                for sock in socks:
                    sock.close()
                raise
            endpoint._sockets = pair
            endpoint._sendto = pair.rtp_sendto
            endpoint._rtcp_sendto = pair.rtcp_sendto
            self.endpoints[endpoint.key] = endpoint
            self.switchboard.add(endpoint)
            return endpoint
        raise PortsExhausted(
            f"no free RTP/RTCP port pair in {self.ports.ports[0]}-{self.ports.ports[-1] + 1} on {self.host}: "
            f"{len(self.ports.in_use)} pairs in use by this engine, {busy} held by other programs")

    async def _close_endpoint(self, endpoint: Endpoint) -> None:
        if endpoint.closed:
            return
        self._reclaim((endpoint,))  # the worker closes its copy of the socket before ours closes
        endpoint.closed = True
        self.switchboard.replan(self.switchboard.forget(endpoint))
        if endpoint.player is not None:
            endpoint.player.stop()
        if endpoint.recorder is not None:
            await endpoint.recorder.stop()
        endpoint._dtmf_out = None
        endpoint._sendto = endpoint._rtcp_sendto = _closed_sendto
        if endpoint._sockets is not None:
            await endpoint._sockets.close()
            endpoint._sockets = None
        self.endpoints.pop(endpoint.key, None)
        self.ports.release(endpoint.local_port)

    # ------------------------------------------------------------------ connections

    def connect(self, a: Endpoint, b: Endpoint) -> None:
        """Two-party bridge: relay packets when the codecs allow it, else transcode on the clock."""
        if a is b:
            raise MediaError("cannot connect an endpoint to itself")
        self.switchboard.replan(self.switchboard.connect(a, b) | {a, b})

    def disconnect(self, endpoint: Endpoint) -> None:
        """Take `endpoint` out of its bridge, conference or monitoring; its bridge peer then hears nothing."""
        self.switchboard.replan(self.switchboard.detach(endpoint))

    def create_mixer(self) -> Mixer:
        """A conference: every member hears the sum of the others (N−1), mixed on the clock."""
        mixer = Mixer(self, next(self._keys))
        self.switchboard.groups[mixer.key] = mixer.members  # the mixer's list is the switchboard's group
        return mixer

    def _mixer_add(self, mixer: Mixer, endpoint: Endpoint) -> None:
        if self.switchboard.member_of.get(endpoint) != mixer.key:
            self.switchboard.replan(self.switchboard.join(mixer.key, endpoint) | {endpoint})

    def _mixer_remove(self, mixer: Mixer, endpoint: Endpoint) -> None:
        if self.switchboard.member_of.get(endpoint) == mixer.key:
            self.disconnect(endpoint)

    def monitor(self, target: Endpoint, listener: Endpoint, whisper: bool = False) -> None:
        """`listener` hears both directions of `target`'s conversation; with whisper, `target` also hears it.

        `disconnect(listener)` ends the monitoring."""
        if target is listener:
            raise MediaError("an endpoint cannot monitor itself")
        self.switchboard.replan(self.switchboard.watch(listener, target, whisper) | {listener})

    def _replan(self, endpoint: Endpoint) -> None:
        """An endpoint's codec, direction, player, recorder or detector changed: re-plan its component."""
        self.switchboard.replan((endpoint,))

    def _reclaim(self, endpoints: Any) -> None:
        """Take relays among `endpoints` back from the workers before their state changes."""
        if self.offload is not None:
            self.offload.reclaim(endpoints)

    def route_of(self, endpoint: Endpoint) -> Route:
        """The current route of an endpoint (for tests and diagnostics)."""
        return self.switchboard.routes[endpoint]

    # ------------------------------------------------------------------ players, recorders, DTMF

    def _play(self, endpoint: Endpoint, source: Any, loop: bool) -> Player:
        if isinstance(source, np.ndarray):
            frames: ArraySource | ToneSource = ArraySource(source, loop)
        elif isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
            from appliance.media.wav import read_wav
            frames = ArraySource(read_wav(source), loop)
        else:
            frames = ToneSource(source, loop)
        if endpoint.player is not None:
            endpoint.player.stop()
        player = Player(endpoint, frames, self._player_finished)
        endpoint.player = player
        self._players.append(player)
        self._replan(endpoint)
        return player

    def _player_finished(self, player: Player) -> None:
        if player in self._players:
            self._players.remove(player)
        endpoint = player.endpoint
        if endpoint.player is player:
            endpoint.player = None
            endpoint._end_talkspurt()
            self._replan(endpoint)

    def _record(self, endpoint: Endpoint, path: str) -> Recorder:
        if endpoint.recorder is not None:
            raise MediaError(f"endpoint {endpoint.local_port} is already recording to {endpoint.recorder.path}")
        recorder = Recorder(endpoint, path, self._recorder_stopped)
        endpoint.recorder = recorder
        self._replan(endpoint)
        return recorder

    def _recorder_stopped(self, recorder: Recorder) -> None:
        if recorder.endpoint.recorder is recorder:
            recorder.endpoint.recorder = None
            self._replan(recorder.endpoint)

    def _send_dtmf(self, endpoint: Endpoint, digit: str, duration_ms: int) -> None:
        if endpoint._dtmf_out is None:
            endpoint._dtmf_out = DtmfOut(endpoint, self._dtmf_idle)
            endpoint._dtmf_out.add(digit, duration_ms)
            self._replan(endpoint)
        else:
            endpoint._dtmf_out.add(digit, duration_ms)

    def _dtmf_idle(self, out: DtmfOut) -> None:
        if out.endpoint._dtmf_out is out:
            out.endpoint._dtmf_out = None
            out.endpoint._end_talkspurt()
            self._replan(out.endpoint)

    def _new_jitter_buffer(self, endpoint: Endpoint) -> Any:
        from appliance.media.jitter import JitterBuffer
        return JitterBuffer(frame_ms=endpoint.ptime, clock_rate=int(endpoint._rate),
                            min_delay_ms=self.jitter_min_ms, max_delay_ms=self.jitter_max_ms)

    # ------------------------------------------------------------------ events to the B2BUA

    def _emit_dtmf(self, endpoint: Endpoint, digit: str) -> None:
        _call(endpoint.on_dtmf, digit, what=f"on_dtmf of endpoint {endpoint.local_port}")

    def _emit_timeout(self, endpoint: Endpoint) -> None:
        log.info("endpoint %s: no RTP for %.0f s", endpoint.local_port, endpoint.timeout)
        _call(endpoint.on_timeout, what=f"on_timeout of endpoint {endpoint.local_port}")

    # ------------------------------------------------------------------ the clock

    async def _run_clock(self) -> None:
        clock, monotonic = self.clock, self.now
        clock.start(monotonic())
        while True:
            await asyncio.sleep(clock.delay(monotonic()))
            now = monotonic()
            for _ in range(clock.due(now)):
                try:
                    self._tick(now)
                except Exception:  # one bad frame must not stop every call's audio
                    log.exception("media tick failed")
                clock.advance()

    def _tick(self, now: float) -> None:
        """One 20 ms step: decode what is listened to, mix, send generated audio, feed recorders/detectors."""
        inputs: dict[Any, np.ndarray] = {}
        board = self.switchboard
        for endpoint in list(board.decoded):
            frame = endpoint._pull_frame(now)
            if frame is not None:
                inputs[endpoint] = frame
            if endpoint.recorder is not None:
                endpoint.recorder.write(frame)
            if endpoint._detect_inband and frame is not None:
                self._detect(endpoint, frame)
        clocked = list(board.clocked)
        outputs = mix_outputs(inputs, board.routes, board.groups, clocked) if clocked else {}
        for endpoint in clocked:
            if endpoint._dtmf_out is not None:
                endpoint._dtmf_out.tick(now)
            elif endpoint.player is not None:
                frame = endpoint.player.read_frame()
                if frame is not None:
                    endpoint._send_frame(frame, now)
            else:
                endpoint._send_frame(outputs.get(endpoint, silence()), now)
        for player in list(self._players):
            # Players on endpoints that cannot send (held) still advance, so they end on time.
            route = board.routes.get(player.endpoint)
            if route is None or not route.clocked:
                player.read_frame()
        if self.offload is not None and self.clock.total_ticks % CHECK_TICKS == 0:
            self.offload.housekeeping(now)
        if self.clock.total_ticks % HOUSEKEEPING_TICKS == 0:
            for endpoint in list(self.endpoints.values()):
                endpoint._housekeeping(now)

    def _detect(self, endpoint: Endpoint, frame: np.ndarray) -> None:
        if endpoint._detector is None:
            from appliance.media.dtmf import DtmfDetector
            endpoint._detector = DtmfDetector()
        for digit in endpoint._detector.feed(frame):
            self._emit_dtmf(endpoint, digit)


def _closed_sendto(data: bytes, addr: Any) -> None:
    """Send function of a closed endpoint: relays still pointing at it drop silently."""


def _call(callback: Callable[..., Any] | None, *args: Any, what: str) -> None:
    """Run a B2BUA callback; its errors are logged, never allowed into the receive path or the clock."""
    if callback is None:
        return
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            asyncio.ensure_future(result)
    except Exception:
        log.exception("%s raised", what)
