"""pbxd: the telephony daemon. Wires store, SIP stack, registrar, media engine, calls and control socket.

`Pbx` is the assembled daemon as an object (tests and `run_daemon` both use it); `run_daemon` adds
the event loop, signals and exit code. The only wall-clock readings of the telephony core are made
here (`time.time` passed down as `wallclock`), for registration expiry and CDR times.
"""

from __future__ import annotations

import asyncio
import importlib.util
import functools
import logging
import signal
import time
from typing import Any

from appliance import applications
from appliance.calls.call import CallEnv, CallOutcome
from appliance.calls.directory import ExtensionDirectory
from appliance.calls.legs import LegContext
from appliance.calls.router import Router
from appliance.calls.service import CallService
from appliance.calls.states import ExtensionStates
from appliance.config import Config
from appliance.control import ControlServer
from appliance.datadir import DataDir
from appliance.media.engine import MediaEngine
from appliance.media.moh import ensure_default_moh
from appliance.media.offload import default_worker_count
from appliance.sip.auth import RequestAuthenticator
from appliance.sip.digest import DigestAuthenticator
from appliance.sip.dispatcher import Dispatcher
from appliance.sip.location import Contact, LocationService
from appliance.sip.registrar import Registrar, RegistrarPolicy
from appliance.sip.stack import SipStack, StackConfig
from appliance.sip.subscriptions import SubscriptionServer
from appliance.sip.transaction import Peer
from appliance.sip.transport_ws_auth import FlowSecrets, WebPhoneTokens
from appliance.sip.uri import SipUri
from appliance.store import Binding, CallRecord, CdrStore, ExtensionStore, RegistrationStore, open_database
from appliance.store.writer import StoreWriter

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL = 1.0
NETWORK_COMMANDS = ("network_status", "network_apply", "network_confirm", "network_revert")


class Pbx:
    """The running telephony core of one data directory."""

    def __init__(self, config: Config, datadir: DataDir):
        self.config = config
        self.datadir = datadir
        self.db = open_database(datadir.database_path)
        self.extensions = ExtensionDirectory(ExtensionStore(self.db))
        self.writer = StoreWriter(datadir.database_path)
        self.wallclock = time.time
        self.location = LocationService()
        self.auth = DigestAuthenticator(config.realm, algorithms=tuple(config.digest_algorithms))
        self.states = ExtensionStates(lambda ext: self.location.is_registered(ext, self.wallclock()))
        self.location.subscribe(lambda aor: self.states.registration_changed(aor))
        self._tasks: list[asyncio.Task] = []
        self.webphone_tokens = WebPhoneTokens(time.monotonic)
        self.control: ControlServer | None = None
        self._network: asyncio.Future[Any] | None = None  # NetworkService, built on a thread (pyroute2 import)
        self.started = asyncio.Event()
        self._webrtc: Any = None  # WebRtcLegs when browsers may call (aiortc itself is loaded on demand)

    def secret_for(self, user: str) -> str | None:
        ext = self.extensions.find(user) if user else None
        return ext.secret if ext is not None and ext.enabled else None

    async def start(self) -> None:
        cfg = self.config
        host = cfg.bind_address
        media_host = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
        tls = self.datadir.ensure_tls_certificate() if cfg.sip_tls_port or cfg.sip_wss_port else None
        workers = cfg.media_relay_workers if cfg.media_relay_workers >= 0 else default_worker_count()
        self.engine = MediaEngine(host=host, port_min=cfg.rtp_port_min, port_max=cfg.rtp_port_max,
                                  tone_country=cfg.tone_country, relay_workers=workers)
        await self.engine.start()

        stack_config = StackConfig(
            host=host, udp_port=cfg.sip_udp_port, tcp_port=cfg.sip_tcp_port, tls_port=cfg.sip_tls_port,
            certfile=str(tls.cert) if tls else None, keyfile=str(tls.key) if tls else None,
            ws_port=cfg.sip_ws_port or None, wss_port=cfg.sip_wss_port or None, ws_admit=self.webphone_tokens.admit,
        )
        self.stack = SipStack(stack_config, handler=None)  # type: ignore[arg-type]
        self.dispatcher = Dispatcher(self.stack.layer)
        # Browser phone flows authenticate with their token (D-webrtc-3): password lookups see the request's flow.
        flow_secrets = FlowSecrets(self.secret_for, self._flow_credential)
        self.stack.handler = flow_secrets.scope(self.dispatcher)
        self.stack.keep_flow = lambda flow: flow in self.location.flows_in_use()

        self.registrar = Registrar(self.location, self.auth, flow_secrets.secret_for, RegistrarPolicy(
            cfg.reg_min_expires, cfg.reg_max_expires, cfg.reg_default_expires))
        self.dispatcher.add_service("REGISTER", self._on_register)
        authenticator = RequestAuthenticator(self.auth, flow_secrets.secret_for, self.wallclock)

        domain = cfg.realm
        self._webrtc = _webrtc_legs(cfg, host)
        ctx = LegContext(self.stack, self.dispatcher, self.engine, list(cfg.codecs), domain, media_host,
                         webrtc=self._webrtc)
        moh = ensure_default_moh(self.datadir.path / "moh" / "default.wav")
        env = CallEnv(ctx, self.states, self.wallclock, on_finished=lambda call, outcome: None,
                      ring_timeout=float(cfg.ring_timeout), moh_source=str(moh))
        self.calls = CallService(env, self.extensions, self.location, authenticator,
                                 Router(self.extensions.find), self._record_cdr)
        self.dispatcher.add_service("INVITE", self.calls.on_invite)

        self.subscriptions = SubscriptionServer(self.stack, self.dispatcher, authenticator, self.states,
                                                self.location, self.extensions.find, domain,
                                                mailbox_counts=lambda ext: (0, 0), wallclock=self.wallclock)
        self.dispatcher.add_service("SUBSCRIBE", self.subscriptions.on_subscribe)
        self.apps = applications.build(self)

        self._load_registrations()
        await self.stack.start()
        self._network = asyncio.ensure_future(asyncio.to_thread(_network_service, self.datadir))
        self.control = ControlServer(self.datadir.control_socket_path, {
            "status": self._ctl_status, "originate": self._ctl_originate, "hangup": self._ctl_hangup,
            "reload": self._ctl_reload, "ping": self._ctl_ping, "media": self._ctl_media,
            "voicemail_changed": self._ctl_voicemail_changed, "mail_wake": self._ctl_mail_wake,
            "voicemail_housekeeping": self._ctl_voicemail_housekeeping,
            "webphone": self._ctl_webphone,
            **{cmd: functools.partial(self._ctl_network, cmd) for cmd in NETWORK_COMMANDS},
        })
        await self.control.start()
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        self.started.set()
        log.info("pbxd listening: SIP udp/tcp %s:%s tls %s, RTP %s-%s", host, cfg.sip_udp_port,
                 cfg.sip_tls_port, cfg.rtp_port_min, cfg.rtp_port_max)
        ws = {name: self.stack.streams[name].local[1] for name in ("ws", "wss") if name in self.stack.streams}
        if ws:
            log.info("browser phone: SIP over %s, WebRTC media %s", ", ".join(f"{n} {p}" for n, p in ws.items()),
                     "on" if ctx.webrtc is not None else "not available (aiortc missing)")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for call in list(self.calls.calls.values()):
            call.hangup("shutdown")
        await asyncio.sleep(0.05)  # let the BYEs leave
        await self.calls.drain()  # CDRs waiting for their recordings' files
        if self.control is not None:
            await self.control.close()
        await self._close_network()
        self.subscriptions.close()
        self.apps.close()
        await self.stack.close()
        await self.engine.close()
        self._persist_registrations()
        self.writer.flush()
        self.writer.close()
        self.db.conn.close()

    # --- registrations -----------------------------------------------------------------------------
    def _on_register(self, request: Any, txn: Any, peer: Peer) -> None:
        txn.send(self.registrar.handle(request, peer, self.wallclock(), txn.to_tag))
        if peer.transport in ("ws", "wss") and self._webrtc is not None:
            self._webrtc.preload()  # a browser phone: have its media library ready before its first call

    def _load_registrations(self) -> None:
        now = self.wallclock()
        contacts = []
        for b in RegistrationStore(self.db).load_all():
            if b.expires_at <= now:
                continue
            try:
                uri = SipUri.parse(b.contact)
                transport, host, port = (b.received or "").split(":", 2) if b.received else ("udp", "", "0")
                peer = Peer(transport, host.strip("[]"), int(port)) if b.received else Peer("udp", *uri.host_port())
            except ValueError:
                log.warning("ignoring unreadable stored binding %s for %s", b.contact, b.aor)
                continue
            contacts.append(Contact(aor=b.aor, uri=uri, expires_at=b.expires_at, call_id=b.call_id, cseq=b.cseq,
                                    peer=peer, instance_id=b.instance_id, reg_id=b.reg_id, q=b.q, path=b.path,
                                    user_agent=b.user_agent, registered_at=b.updated_at or now))
        self.location.load(contacts)
        log.info("restored %d registrations", len(contacts))

    def _persist_registrations(self) -> None:
        dirty = self.location.take_dirty()
        if not dirty:
            return
        snapshot = {aor: [_binding(c) for c in self.location.current(aor)] for aor in dirty}

        def write(db: Any) -> None:
            store = RegistrationStore(db)
            for aor, bindings in snapshot.items():
                try:
                    store.replace(aor, bindings)
                except Exception:
                    log.exception("cannot persist bindings of %s", aor)

        self.writer.submit(write)

    # --- CDRs -------------------------------------------------------------------------------------
    def _record_cdr(self, outcome: CallOutcome) -> None:
        record = CallRecord(
            call_id=outcome.call_id, start=outcome.start, end=outcome.end, caller=outcome.caller,
            caller_name=outcome.caller_name, called=outcome.called or "?", final_called=outcome.final_called,
            type=outcome.type, status=outcome.status, answer=outcome.answer, hangup_cause=outcome.hangup_cause,
            recording=outcome.recording,
        )
        self.writer.submit(lambda db: CdrStore(db).insert(record))

    # --- periodic work ------------------------------------------------------------------------------
    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL)
            try:
                self.location.purge(self.wallclock())
                self._check_extension_changes()
                self.apps.refresh_settings()
                self._persist_registrations()
            except Exception:
                log.exception("housekeeping failed")

    def _check_extension_changes(self) -> None:
        """Notice CLI/web edits: drop bindings of extensions that were deleted or disabled."""
        if not self.extensions.refresh():
            return
        for aor in self.location.aors():
            ext = self.extensions.find(aor)
            if ext is None or not ext.enabled:
                self.location.remove_aor(aor)

    # --- control socket --------------------------------------------------------------------------------
    async def _ctl_ping(self, params: dict) -> dict:
        return {"pong": True}

    async def _ctl_status(self, params: dict) -> dict:
        """Registrations, calls and extension states; lists are capped by `limit` (default 1000)."""
        now = self.wallclock()
        limit = int(params.get("limit", 1000))
        registrations = [
            {"extension": c.aor, "contact": str(c.uri), "source": f"{c.peer.transport}:{c.peer.host}:{c.peer.port}",
             "expires_in": c.expires_in(now), "user_agent": c.user_agent}
            for aor in sorted(self.location.aors()) for c in self.location.lookup(aor, now)
        ]
        extensions = [{"number": e.number, "name": e.name, "status": self.states.status(e.number).value}
                      for e in self.extensions.list()[:limit]]
        health = await asyncio.get_running_loop().run_in_executor(None, _read_health)
        return {"registrations": registrations[:limit], "registration_count": len(registrations),
                "calls": self.calls.status()[:limit], "call_count": len(self.calls.calls),
                "extensions": extensions,
                "sip": {"transactions": self.stack.layer.counts, "dialogs": self.dispatcher.dialog_count},
                "media": {"endpoints": len(self.engine.endpoints)}, "health": health}

    async def _ctl_media(self, params: dict) -> dict:
        """Aggregate RTP figures over live endpoints (monitoring, benchmarks)."""
        stats = [ep.stats() for ep in self.engine.endpoints.values()]
        received = [s for s in stats if s["packets_in"]]
        jitter = [s["jitter_ms"] for s in received]
        detail = stats[: int(params.get("detail", 0))]
        return {
            "detail": detail,
            "endpoints": len(stats),
            "packets_in": sum(s["packets_in"] for s in stats),
            "packets_out": sum(s["packets_out"] for s in stats),
            "lost": sum(s["lost"] for s in stats),
            "jitter_ms_max": max(jitter, default=0.0),
            "jitter_ms_mean": sum(jitter) / len(jitter) if jitter else 0.0,
        }

    async def _ctl_originate(self, params: dict) -> dict:
        extension, target = str(params.get("extension", "")), str(params.get("target", ""))
        if not extension or not target:
            raise ValueError("originate needs 'extension' and 'target'")
        return {"call": self.calls.originate(extension, target)}

    async def _ctl_hangup(self, params: dict) -> dict:
        call_id = params.get("call")
        if not isinstance(call_id, int):
            raise ValueError("hangup needs 'call' (a call number from status)")
        return {"hung_up": self.calls.hangup(call_id)}

    async def _ctl_voicemail_changed(self, params: dict) -> dict:
        """The web UI changed a mailbox (deleted, marked read…): update the message lamps."""
        mailbox = str(params.get("mailbox", ""))
        if not mailbox:
            raise ValueError("voicemail_changed needs 'mailbox'")
        self.subscriptions.mailbox_changed(mailbox)
        return {"notified": True}

    async def _ctl_voicemail_housekeeping(self, params: dict) -> dict:
        """Delete expired voicemail now (it also runs at start and hourly); lamps follow."""
        if self.apps.voicemail is None:
            raise ValueError("voicemail is not running (voice prompts are not built)")
        return {"deleted": await self.apps.voicemail.housekeeping()}

    async def _ctl_mail_wake(self, params: dict) -> dict:
        """The SMTP settings changed: retry waiting e-mails now rather than after their back-off."""
        if self.apps.outbox is not None:
            self.apps.outbox.wake()
        return {"woken": self.apps.outbox is not None}

    async def _ctl_webphone(self, params: dict) -> dict:
        """For the web portal's browser phone: a short-lived token for `extension` and where to connect."""
        extension = str(params.get("extension", ""))
        ext = self.extensions.find(extension) if extension else None
        if ext is None or not ext.enabled:
            raise ValueError(f"no enabled extension {extension!r}")
        ws, wss = self.stack.streams.get("ws"), self.stack.streams.get("wss")
        return {"token": self.webphone_tokens.issue(extension), "expires_in": self.webphone_tokens.lifetime,
                "realm": self.config.realm, "ws_port": ws.local[1] if ws else None,
                "wss_port": wss.local[1] if wss else None, "media": self.calls.env.ctx.webrtc is not None}

    def _flow_credential(self, peer: Peer) -> Any:
        stream = self.stack.streams.get(peer.transport)
        return stream.credential(peer.flow) if stream is not None and hasattr(stream, "credential") else None

    async def _ctl_reload(self, params: dict) -> dict:
        self._check_extension_changes()
        self.apps.refresh_settings()
        return {"reloaded": True}

    async def _ctl_network(self, cmd: str, params: dict) -> dict:
        """The web admin's network changes; apply/verify/confirm/rollback state lives in the service (D-netweb-1)."""
        assert self._network is not None
        return await (await self._network).handle(cmd, params)

    async def _close_network(self) -> None:
        """Undo an unconfirmed network change before stopping (the service does it on its thread)."""
        if self._network is None:
            return
        try:
            service = await self._network
        except Exception:
            log.exception("the network service had not started")
            return
        await asyncio.to_thread(service.close)


def _network_service(datadir: DataDir) -> Any:
    """appliance.network.service for this data directory; imported here because pyroute2 takes ~0.2 s."""
    from appliance.network.service import for_database  # noqa: PLC0415

    return for_database(datadir.database_path)


def _read_health() -> dict:
    """Board temperature and RTC over I2C (a blocking read: runs on a worker thread)."""
    from appliance.health import board_health  # noqa: PLC0415

    try:
        return board_health().as_dict()
    except Exception as err:  # a sick bus must not break `appliance status`
        log.warning("board health unreadable: %s", err)
        return {"error": str(err)}


def _webrtc_legs(cfg: Config, host: str) -> Any:
    """Browser calls' media (aiortc), when a WebSocket listener is configured; None leaves browsers a 488."""
    if not (cfg.sip_ws_port or cfg.sip_wss_port):
        return None
    # Only whether aiortc and PyAV are installed: importing them costs ~48 MiB, paid at the first browser
    # phone's REGISTER or call (WebRtcLegs.preload, D-webrtc-9), never by a box without browser phones.
    missing = [name for name in ("aiortc", "av") if importlib.util.find_spec(name) is None]
    if missing:
        log.error("browser calls not available: WebRTC media needs %s", " and ".join(missing))
        return None
    from appliance.calls.webrtc_leg import WebRtcLegs  # noqa: PLC0415
    from appliance.media.webrtc_config import set_ice_addresses  # noqa: PLC0415
    addresses = [a.strip() for a in cfg.webrtc_ice_host.split(",") if a.strip()]
    if not addresses and host not in ("0.0.0.0", "::"):
        addresses = [host]
    set_ice_addresses(addresses or None)
    return WebRtcLegs()


def _binding(c: Contact) -> Binding:
    return Binding(aor=c.aor, contact=str(c.uri), expires_at=c.expires_at, call_id=c.call_id, cseq=c.cseq,
                   instance_id=c.instance_id, reg_id=c.reg_id, q=c.q,
                   received=f"{c.peer.transport}:{c.peer.host}:{c.peer.port}", path=c.path,
                   user_agent=c.user_agent, updated_at=c.registered_at)


def run_daemon(config: Config, datadir: DataDir) -> int:
    """Run pbxd until SIGTERM/SIGINT; returns the process exit code."""
    _raise_fd_limit()
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up (see docs/decisions.md)
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        return runner.run(_serve(config, datadir))


def _tune_gc() -> None:
    """Keep garbage-collection pauses out of call signalling.

    Everything alive after start-up (modules, numpy, the store) is moved out of the collector's reach, so
    a full collection only walks what calls and transactions allocate; pauses over 50 ms are logged.
    """
    import gc  # noqa: PLC0415

    gc.collect()
    gc.freeze()
    started: list[float] = []

    def watch(phase: str, info: dict) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            pause = time.perf_counter() - started[0]
            if pause > 0.05:
                log.info("garbage collection of generation %s took %.0f ms (%s objects collected)",
                         info.get("generation"), pause * 1000, info.get("collected"))

    gc.callbacks.append(watch)


def _raise_fd_limit() -> None:
    """Each call holds four sockets (two RTP/RTCP pairs): lift the soft limit of 1024 descriptors."""
    import resource  # noqa: PLC0415

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log.debug("file descriptor limit raised from %d to %d", soft, hard)


async def _serve(config: Config, datadir: DataDir) -> int:
    pbx = Pbx(config, datadir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await pbx.start()
    except OSError as err:
        log.error("cannot start: %s", err)
        await _safe_close(pbx)
        return 1
    _tune_gc()
    await stop.wait()
    log.info("stopping")
    await pbx.close()
    return 0


async def _safe_close(pbx: Pbx) -> None:
    try:
        await pbx.close()
    except Exception:
        log.debug("error while closing a half-started daemon", exc_info=True)
