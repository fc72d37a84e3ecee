"""Commands of the phone agent: endpoint start-up and one function per JSON command.

Runs only in the agent process. Each ``cmd_*`` function takes the runtime and the command's arguments and
returns the reply's result (a dict). pjsua2 ``Error`` and argument errors become ``ok: false`` replies.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import socket
import time
from typing import TYPE_CHECKING, Any, Callable

import pjsua2 as pj

from tests.phones import media_commands
from tests.phones.uaobjects import AgentAccount, AgentBuddy, AgentCall

if TYPE_CHECKING:
    from tests.phones.agent import Runtime

log = logging.getLogger("phone.agent")

LOOPBACK = "127.0.0.1"
TRANSPORT_KINDS = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP, "tls": pj.PJSIP_TRANSPORT_TLS}
RTP_BASE_LOW, RTP_BASE_HIGH, RTP_SPAN = 16000, 32000, 64  # below net.ipv4.ip_local_port_range (32768-)


# -- start-up ---------------------------------------------------------------------------------------------
def start_endpoint(rt: Runtime, args: argparse.Namespace) -> None:
    """Create the endpoint: no SIP worker thread, null sound device, loopback transports on free ports."""
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = 4
    cfg.uaConfig.userAgent = f"pjsua2-testphone/{rt.name}"
    cfg.uaConfig.natTypeInSdp = 0
    cfg.logConfig.consoleLevel = 1
    cfg.logConfig.level = 1
    if args.log_dir:
        cfg.logConfig.filename = os.path.join(args.log_dir, f"{rt.name}.pjsip.log")
        cfg.logConfig.level = args.log_level
        cfg.logConfig.msgLogging = True
    cfg.medConfig.noVad = True  # VAD would cut silence out of what the far end records
    cfg.medConfig.ecTailLen = 0
    # The null sound device is the conference bridge's clock: without it no RTP (nor RFC 2833 digit) is sent.
    # pjsua closes an idle device after 1 s by default, silently stopping a call nobody plays into.
    cfg.medConfig.sndAutoCloseTime = -1
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    for kind in args.transports.split(","):
        tcfg = pj.TransportConfig()
        tcfg.port = 0
        tcfg.boundAddress = LOOPBACK
        tcfg.publicAddress = LOOPBACK
        if kind == "tls" and args.tls_cert:
            tcfg.tlsConfig.certFile = args.tls_cert
            tcfg.tlsConfig.privKeyFile = args.tls_key
        tid = ep.transportCreate(TRANSPORT_KINDS[kind], tcfg)
        port = int(ep.transportGetInfo(tid).localName.rsplit(":", 1)[1])
        rt.transports[kind] = (tid, port)
    ep.libStart()
    rt.ep = ep
    cmd_set_codecs(rt, args.codecs.split(","))
    first = next(iter(rt.transports))
    suffix = "" if first == "udp" else f";transport={first}"
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{rt.name}@{LOOPBACK}:{rt.transports[first][1]}{suffix}"
    _loopback_only(acfg)
    rt.local_acc = AgentAccount(rt, "local")
    rt.local_acc.create(acfg, True)


def _loopback_only(acfg: Any) -> None:
    """RTP on 127.0.0.1 from a probed free base port; no STUN/ICE/outbound/keep-alive/Contact rewriting.

    Not port 0: pjsua then binds RTP to a kernel-chosen (often odd) port and RTCP to the next one, which fails
    repeatedly under parallel tests. Not pjsua's randomizePort: it uses pj_rand, not seeded per process.
    And its retry (100 tries, step 2) cannot get past a block of ports another process holds (media
    benchmarks bind hundreds), hence a span checked free at account creation.
    """
    media = acfg.mediaConfig.transportConfig
    media.port = free_rtp_base()
    media.portRange = RTP_SPAN
    media.boundAddress = LOOPBACK
    media.publicAddress = LOOPBACK
    nat = acfg.natConfig
    nat.iceEnabled = False
    nat.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
    nat.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
    nat.contactRewriteUse = 0
    nat.viaRewriteUse = 0
    nat.sdpNatRewriteUse = 0
    nat.sipOutboundUse = 0
    nat.udpKaIntervalSec = 0


def free_rtp_base(tries: int = 100) -> int:
    """A random even port below the ephemeral range whose next RTP_SPAN ports are free for UDP now."""
    for _ in range(tries):
        base = random.randrange(RTP_BASE_LOW, RTP_BASE_HIGH - RTP_SPAN, 2)
        if all(_udp_port_free(port) for port in range(base, base + RTP_SPAN + 1)):
            return base
    log.warning("no free RTP span found in %d tries; relying on pjsua's retry", tries)
    return random.randrange(RTP_BASE_LOW, RTP_BASE_HIGH - RTP_SPAN, 2)


def _udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def enabled_codecs(rt: Runtime) -> list[str]:
    codecs = sorted((c for c in rt.ep.codecEnum2() if c.priority > 0), key=lambda c: -c.priority)
    return [c.codecId for c in codecs]


def _headers(headers: Any) -> Any:
    vector = pj.SipHeaderVector()
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    for name, value in items:
        header = pj.SipHeader()
        header.hName = name
        header.hValue = value
        vector.append(header)
    return vector


def _op(code: int = 0, headers: Any = None) -> Any:
    prm = pj.CallOpParam(True)
    prm.statusCode = code
    if headers:
        prm.txOption.headers = _headers(headers)
    return prm


def answer_call(call: AgentCall, code: int, headers: Any = None) -> None:
    call.answer(_op(code, headers))


# -- commands ---------------------------------------------------------------------------------------------
def cmd_ping(rt: Runtime) -> dict[str, Any]:
    return {"name": rt.name}


def cmd_set_codecs(rt: Runtime, codecs: list[str]) -> dict[str, Any]:
    """Enable exactly the named codecs ("PCMU", "PCMA", "G722", …), first one preferred."""
    available = [c.codecId for c in rt.ep.codecEnum2()]
    wanted: dict[str, int] = {}
    for rank, name in enumerate(codecs):
        matches = [cid for cid in available if cid.lower() == name.lower() or
                   cid.lower().startswith(name.lower() + "/")]
        if not matches:
            raise ValueError(f"unknown codec {name!r}; available: {available}")
        for cid in matches:
            wanted.setdefault(cid, 255 - rank)
    for cid in available:
        rt.ep.codecSetPriority(cid, wanted.get(cid, 0))
    return {"codecs": enabled_codecs(rt)}


def cmd_register(rt: Runtime, registrar: str, user: str, password: str = "", realm: str = "*",
                 transport: str = "udp", expires: int = 300, contact_params: str = "",
                 contact_uri_params: str = "", domain: str = "", auth_user: str = "",
                 headers: Any = None, mwi: bool = False, retry_interval: int = 0,
                 proxy: str = "") -> dict[str, Any]:
    """(Re)create the registered account and start REGISTER; progress comes as reg_state events."""
    if rt.reg_acc is not None:
        rt.reg_acc.shutdown()
        rt.reg_acc = None
    acfg = pj.AccountConfig()
    host = domain or registrar
    suffix = "" if transport == "udp" else f";transport={transport}"
    acfg.idUri = f"sip:{user}@{host}"
    acfg.regConfig.registrarUri = f"sip:{registrar}{suffix}"
    acfg.regConfig.timeoutSec = expires
    acfg.regConfig.retryIntervalSec = retry_interval
    acfg.regConfig.firstRetryIntervalSec = retry_interval
    if headers:
        acfg.regConfig.headers = _headers(headers)
    acfg.sipConfig.transportId = rt.transports[transport][0]
    acfg.sipConfig.contactParams = contact_params
    acfg.sipConfig.contactUriParams = contact_uri_params
    if password or auth_user:
        acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", realm, auth_user or user, 0, password))
    acfg.mwiConfig.enabled = mwi
    if proxy:
        acfg.sipConfig.proxies.append(f"sip:{proxy};lr{suffix}")
    _loopback_only(acfg)
    acc = AgentAccount(rt, "reg")
    acc.create(acfg, False)
    rt.reg_acc = acc
    return {"uri": acfg.idUri}


def cmd_unregister(rt: Runtime) -> dict[str, Any]:
    if rt.reg_acc is None:
        raise ValueError("not registered")
    rt.reg_acc.setRegistration(False)
    return {}


def cmd_call(rt: Runtime, uri: str, headers: Any = None, account: str = "") -> dict[str, Any]:
    """Place a call (INVITE) from the registered account if any, else from the local one."""
    use_reg = account == "reg" or (not account and rt.reg_acc is not None)
    acc = rt.reg_acc if use_reg else rt.local_acc
    call = AgentCall(rt, acc, direction="outgoing")
    handle = rt.adopt(call)
    prm = _op(0, headers)
    prm.opt.audioCount = 1
    prm.opt.videoCount = 0
    try:
        call.makeCall(uri, prm)
    except pj.Error:
        rt.calls.pop(handle, None)
        raise
    return {"call": handle, "sip_call_id": call.getInfo().callIdString}


def cmd_answer(rt: Runtime, call: str, code: int = 200, headers: Any = None) -> dict[str, Any]:
    answer_call(rt.call(call), code, headers)
    return {}


def cmd_reject(rt: Runtime, call: str, code: int = 486, headers: Any = None) -> dict[str, Any]:
    rt.call(call).hangup(_op(code, headers))
    return {}


def cmd_hangup(rt: Runtime, call: str, code: int = 0, headers: Any = None) -> dict[str, Any]:
    """Hang up; a call that has already ended is fine (the far end may have been quicker)."""
    if call in rt.ended:
        return {"ended": True}
    rt.call(call).hangup(_op(code, headers))
    return {}


def cmd_hold(rt: Runtime, call: str) -> dict[str, Any]:
    rt.call(call).setHold(_op())
    return {}


def cmd_unhold(rt: Runtime, call: str) -> dict[str, Any]:
    prm = _op()
    prm.opt.flag |= pj.PJSUA_CALL_UNHOLD
    rt.call(call).reinvite(prm)
    return {}


def cmd_update(rt: Runtime, call: str) -> dict[str, Any]:
    """Send UPDATE with a new SDP offer (RFC 3311) in the confirmed dialog."""
    rt.call(call).update(_op())
    return {}


def cmd_auto_answer(rt: Runtime, code: int | None = 200, delay: float = 0.0,
                    ring: int | None = None) -> dict[str, Any]:
    rt.auto_answer = {"code": code, "delay": delay, "ring": ring}
    return {}


def cmd_transfer(rt: Runtime, call: str, target: str, headers: Any = None) -> dict[str, Any]:
    rt.call(call).xfer(target, _op(0, headers))
    return {}


def cmd_transfer_attended(rt: Runtime, call: str, other: str) -> dict[str, Any]:
    rt.call(call).xferReplaces(rt.call(other), _op())
    return {}


def cmd_send_request(rt: Runtime, call: str, method: str, body: str = "", content_type: str = "",
                     headers: Any = None) -> dict[str, Any]:
    prm = pj.CallSendRequestParam()
    prm.method = method
    if body:
        prm.txOption.contentType = content_type or "text/plain"
        prm.txOption.msgBody = body
    if headers:
        prm.txOption.headers = _headers(headers)
    rt.call(call).sendRequest(prm)
    return {}


def cmd_subscribe_presence(rt: Runtime, uri: str) -> dict[str, Any]:
    acc = rt.reg_acc or rt.local_acc
    cfg = pj.BuddyConfig()
    cfg.uri = uri
    cfg.subscribe = True
    buddy = AgentBuddy(rt, uri)
    buddy.create(acc, cfg)
    rt.buddies[uri] = buddy
    return {}


def cmd_unsubscribe_presence(rt: Runtime, uri: str) -> dict[str, Any]:
    rt.buddies[uri].subscribePresence(False)
    return {}


def cmd_call_info(rt: Runtime, call: str) -> dict[str, Any]:
    target = rt.call(call)
    if target.disconnected:
        return {"state": "disconnected"}
    info = target.getInfo()
    return {"state": info.stateText, "code": info.lastStatusCode, "reason": info.lastReason,
            "remote_uri": info.remoteUri, "local_uri": info.localUri, "sip_call_id": info.callIdString}


def shutdown(rt: Runtime, unregister: bool = False) -> None:
    """Stop media (finalising recordings), hang up, optionally unregister, and let the messages go out."""
    for call in list(rt.calls.values()):
        if not call.disconnected:
            rt.release_media(call)
    if unregister and rt.reg_acc is not None:
        rt.reg_acc.setRegistration(False)
    rt.ep.hangupAllCalls()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        rt.ep.libHandleEvents(10)
        if all(c.disconnected for c in rt.calls.values()) and not unregister:
            break
    rt.running = False


def destroy(rt: Runtime) -> None:
    """Drop every pjsua2 object, then destroy the library (which also flushes and closes the SIP log)."""
    rt.calls.clear()
    rt.buddies.clear()
    rt.local_acc = rt.reg_acc = None
    rt.ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)


def cmd_quit(rt: Runtime, unregister: bool = False) -> dict[str, Any]:
    shutdown(rt, unregister)
    return {}


COMMANDS: dict[str, Callable[..., dict[str, Any]]] = {
    name[4:]: fn for module in (globals(), vars(media_commands)) for name, fn in module.items()
    if name.startswith("cmd_") and callable(fn)
}
COMMANDS["ringing"] = lambda rt, call, code=180, headers=None: cmd_answer(rt, call, code, headers)


def dispatch(rt: Runtime, command: dict[str, Any]) -> None:
    """Run one command and write its reply; errors become ``ok: false`` with a readable message."""
    cid, name, args = command.get("id"), command.get("cmd", ""), command.get("args") or {}
    func = COMMANDS.get(name)
    if func is None:
        rt.emit("reply", id=cid, ok=False, error=f"unknown command {name!r}; known: {sorted(COMMANDS)}")
        return
    try:
        result = func(rt, **args)
    except pj.Error as err:
        log.warning("%s failed: %s", name, err.info())
        rt.emit("reply", id=cid, ok=False, error=f"{name}: pjsua2 error {err.status}: {err.reason} ({err.title})")
        return
    except (KeyError, ValueError, TypeError, OverflowError) as err:
        log.warning("%s failed: %r", name, err)
        rt.emit("reply", id=cid, ok=False, error=f"{name}: {err!r}")
        return
    rt.emit("reply", id=cid, ok=True, result=result)
