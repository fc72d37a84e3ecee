"""The `appliance` command line: run pbxd, initialise a data directory, edit extensions, ask for status.

Exit codes: 0 success, 1 the action failed (daemon not running, directory locked, no such extension …),
2 bad arguments or configuration. Arguments are validated before anything on disk is opened or created.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sqlite3
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from appliance.errors import ApplianceError

log = logging.getLogger(__name__)

DEFAULT_DATA = "./var"
#: Unprivileged defaults for a development host; the box's init script serves on 443 (and 80).
DEFAULT_HTTPS_PORT, DEFAULT_HTTP_PORT = 8443, 8080
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: Which flag set which configuration field (for error messages that point at the culprit).
RUN_FLAGS = {
    "bind_address": "--bind",
    "sip_udp_port": "--sip-port",
    "sip_tcp_port": "--sip-port",
    "sip_tls_port": "--tls-port",
    "rtp_port_min": "--rtp-ports",
    "rtp_port_max": "--rtp-ports",
    "realm": "--realm",
    "log_level": "--log-level",
    "data_dir": "--data",
}


class UsageError(ApplianceError):
    """Arguments that parse but make no sense; reported with exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `appliance` and `python -m appliance`; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed usage and the error
        return int(exit_.code or 0)
    try:
        return int(args.handler(args))
    except UsageError as err:
        print(f"appliance: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ApplianceError as err:
        from appliance.config import ConfigError  # noqa: PLC0415

        print(f"appliance: error: {err}", file=sys.stderr)
        return EXIT_USAGE if isinstance(err, ConfigError) else EXIT_FAILED
    except (OSError, sqlite3.Error) as err:
        print(f"appliance: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


# -- argument parsing ------------------------------------------------------------------------------------


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535)")
    return value


def _port_range(text: str) -> tuple[int, int]:
    low, sep, high = text.partition("-")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not a range like 10000-20000")
    return _port(low.strip()), _port(high.strip())


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree (exposed for tests and for generating documentation)."""
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--data", default=DEFAULT_DATA, metavar="DIR",
        help=f"data directory (database, certificates, sockets); default {DEFAULT_DATA}",
    )
    parser = argparse.ArgumentParser(prog="appliance", description="Office IP-PBX appliance.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", parents=[data], help="start pbxd in the foreground")
    run.add_argument("--bind", metavar="ADDR", help="address to listen on (default 0.0.0.0)")
    run.add_argument("--sip-port", type=_port, metavar="N", help="SIP UDP and TCP port (default 5060)")
    run.add_argument("--tls-port", type=_port, metavar="N", help="SIP TLS port (default 5061)")
    run.add_argument("--rtp-ports", type=_port_range, metavar="MIN-MAX", help="RTP port range")
    run.add_argument("--realm", help="digest authentication realm (default: the host name)")
    run.add_argument("--log-level", metavar="L", help="DEBUG, INFO, WARNING or ERROR")
    run.set_defaults(handler=_cmd_run)

    init = commands.add_parser("init", parents=[data], help="initialise the data directory (idempotent)")
    init.set_defaults(handler=_cmd_init)

    status = commands.add_parser("status", parents=[data], help="show registrations and calls of pbxd")
    status.add_argument("--timeout", type=float, default=5.0, help=argparse.SUPPRESS)
    status.set_defaults(handler=_cmd_status)

    web = commands.add_parser("web", parents=[data], help="serve the web UI over HTTPS (HTTP redirects to it)")
    web.add_argument("--bind", default="0.0.0.0", metavar="ADDR", help="address to listen on (default 0.0.0.0)")
    web.add_argument("--https-port", type=_port, default=DEFAULT_HTTPS_PORT, metavar="N",
                     help=f"HTTPS port (default {DEFAULT_HTTPS_PORT}; 0 picks a free one)")
    web.add_argument("--http-port", type=_port, default=DEFAULT_HTTP_PORT, metavar="N",
                     help=f"plain HTTP port that redirects to HTTPS (default {DEFAULT_HTTP_PORT})")
    web.add_argument("--no-http", action="store_true", help="do not listen for plain HTTP at all")
    web.add_argument("--workers", type=int, default=2, metavar="N", help="gunicorn worker processes (default 2)")
    web.add_argument("--log-level", default="INFO", metavar="L", help="DEBUG, INFO, WARNING or ERROR")
    web.add_argument("--access-log", action="store_true", help="log every request to stdout")
    web.set_defaults(handler=_cmd_web)

    console = commands.add_parser("console", parents=[data], help="installer menu on a serial port")
    console.add_argument("--device", required=True, metavar="DEV", help="serial device, e.g. /dev/ttyS0")
    console.add_argument("--baud", type=int, default=115200, metavar="N", help="speed (default 115200)")
    console.set_defaults(handler=_cmd_console)

    pin = commands.add_parser("console-pin", help="set or clear the PIN the serial console asks for")
    pin_commands = pin.add_subparsers(dest="pin_command", required=True, metavar="ACTION")
    pin_set = pin_commands.add_parser(
        "set", parents=[data], help="set a new PIN, 4-8 digits, typed twice (or two lines on standard input)"
    )
    pin_set.set_defaults(handler=_cmd_console_pin_set)
    pin_clear = pin_commands.add_parser("clear", parents=[data], help="remove the PIN: the console opens on ENTER")
    pin_clear.set_defaults(handler=_cmd_console_pin_clear)

    network = commands.add_parser("network", help="network settings (WAN/LAN) through netlink")
    net_commands = network.add_subparsers(dest="network_command", required=True, metavar="ACTION")
    net_apply = net_commands.add_parser("apply", parents=[data], help="configure the saved settings (at boot)")
    net_apply.set_defaults(handler=_cmd_network_apply)
    net_show = net_commands.add_parser("show", parents=[data], help="saved settings and live link state")
    net_show.set_defaults(handler=_cmd_network_show)

    ext = commands.add_parser("ext", help="manage extensions")
    ext_commands = ext.add_subparsers(dest="ext_command", required=True, metavar="ACTION")
    add = ext_commands.add_parser("add", parents=[data], help="create an extension")
    add.add_argument("number")
    add.add_argument("--name", required=True)
    add.add_argument("--secret", help="SIP password (generated and printed when omitted)")
    add.add_argument("--email")
    add.add_argument("--department")
    add.set_defaults(handler=_cmd_ext_add)
    listing = ext_commands.add_parser("list", parents=[data], help="list extensions")
    listing.add_argument("--secrets", action="store_true", help="show SIP passwords")
    listing.set_defaults(handler=_cmd_ext_list)
    delete = ext_commands.add_parser("del", parents=[data], help="delete an extension")
    delete.add_argument("number")
    delete.set_defaults(handler=_cmd_ext_del)
    change = ext_commands.add_parser("set", parents=[data], help="change an extension")
    change.add_argument("number")
    change.add_argument("--name")
    change.add_argument("--secret")
    change.add_argument("--email", help='new address ("" removes it)')
    change.add_argument("--department", help='new department ("" removes it)')
    toggle = change.add_mutually_exclusive_group()
    toggle.add_argument("--enable", dest="enabled", action="store_const", const=True)
    toggle.add_argument("--disable", dest="enabled", action="store_const", const=False)
    change.set_defaults(handler=_cmd_ext_set)
    return parser


# -- run / init ------------------------------------------------------------------------------------------


def _run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    rtp = args.rtp_ports or (None, None)
    return {
        "data_dir": args.data,
        "bind_address": args.bind,
        "sip_udp_port": args.sip_port,
        "sip_tcp_port": args.sip_port,
        "sip_tls_port": args.tls_port,
        "rtp_port_min": rtp[0],
        "rtp_port_max": rtp[1],
        "realm": args.realm,
        "log_level": args.log_level,
    }


def _cmd_run(args: argparse.Namespace) -> int:
    from appliance.config import load_config  # noqa: PLC0415 - keep `--help` fast
    from appliance.datadir import DataDir  # noqa: PLC0415

    overrides = _run_overrides(args)
    load_config(overrides=overrides, override_sources=RUN_FLAGS)  # flags alone: fail before touching disk
    datadir = DataDir(args.data)
    datadir.create()
    lock = datadir.acquire_daemon_lock()
    try:
        config, demos = _prepare(datadir, overrides)
        logging.basicConfig(
            level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        try:
            from appliance.daemon import run_daemon  # noqa: PLC0415 - written by the lead; optional here
        except ModuleNotFoundError as err:
            if err.name != "appliance.daemon":
                raise
            print("appliance: error: pbxd is not part of this build (appliance.daemon is missing)",
                  file=sys.stderr)
            return EXIT_FAILED
        print(_banner(config, datadir, demos), flush=True)
        return int(run_daemon(config, datadir))
    finally:
        lock.release()


def _prepare(datadir: Any, overrides: Mapping[str, Any]) -> tuple[Any, list[Any]]:
    """Database (migrated, seeded), layered configuration and TLS certificate; all idempotent."""
    from appliance.config import load_config  # noqa: PLC0415
    from appliance.store import SettingsStore, demo_extensions, initialize_database  # noqa: PLC0415

    db = initialize_database(datadir.database_path)
    try:
        config = load_config(
            settings=SettingsStore(db).all(), overrides=overrides, override_sources=RUN_FLAGS
        )
        demos = list(demo_extensions(db))
    finally:
        db.close()
    datadir.ensure_tls_certificate(_certificate_names(config))
    return config, demos


def _certificate_names(config: Any) -> list[str]:
    names = [config.realm, socket.gethostname()]
    if config.bind_address not in ("0.0.0.0", "::"):
        names.append(config.bind_address)
    return names


def _cmd_init(args: argparse.Namespace) -> int:
    """Database, certificate and web admin password; every step idempotent (first boot re-runs it)."""
    from appliance.datadir import DataDir  # noqa: PLC0415

    datadir = DataDir(args.data)
    datadir.create()
    config, demos = _prepare(datadir, {"data_dir": args.data})
    print(f"data directory {datadir.path} is ready")
    print(f"  database      {datadir.database_path}")
    print(f"  certificate   {datadir.tls_cert_path}", flush=True)
    if not _ensure_admin_password(datadir):
        print("  web admin     user admin (password set earlier; the serial console can reset it)")
    if demos:
        print(_credentials(demos))
    return EXIT_OK


def _ensure_admin_password(datadir: Any) -> bool:
    """Make the web admin password if there is none, shown on stdout before it is stored; True if made.

    At first boot stdout is the serial console (S02firstboot keeps it out of the log files), so the
    installer reads it there, and the web UI's first start finds a password and prints none.
    """
    from appliance.store import open_database  # noqa: PLC0415
    from appliance.webui.firststart import ensure_admin_password  # noqa: PLC0415

    db = open_database(datadir.database_path)
    try:
        return ensure_admin_password(db, show=_show_admin_password) is not None
    finally:
        db.close()


def _show_admin_password(password: str) -> None:
    # flushed before the password is committed: one killed in between was never stored
    print(f"  web admin     user admin, password {password}   (shown only now: write it down)", flush=True)


def _server_addresses(bind: str) -> list[str]:
    if bind not in ("0.0.0.0", "::"):
        return [bind]
    return [*_interface_addresses(), "127.0.0.1 (from this machine)"]


def _interface_addresses() -> list[str]:
    """The primary IPv4 address of each interface that has one (SIOCGIFADDR; sends nothing)."""
    import fcntl  # noqa: PLC0415
    import struct  # noqa: PLC0415

    addresses: list[str] = []
    try:
        interfaces = socket.if_nameindex()
    except OSError:
        return addresses
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in interfaces:
            try:
                packed = fcntl.ioctl(sock.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
            except OSError:  # interface without an IPv4 address
                continue
            address = socket.inet_ntoa(packed[20:24])
            if not address.startswith("127."):
                addresses.append(address)
    return addresses


def _credentials(demos: Iterable[Any]) -> str:
    lines = ["  demo extensions (user / password):"]
    lines += [f"    {ext.number:<8} {ext.secret}" for ext in demos]
    return "\n".join(lines)


def _banner(config: Any, datadir: Any, demos: Sequence[Any]) -> str:
    def port(n: int) -> str:
        return str(n) if n else "chosen at start (see `appliance status`)"

    lines = [
        f"pbxd: data directory {datadir.path}",
        "Register a softphone (Linphone, Zoiper, MicroSIP …) with:",
        f"  server      {', '.join(_server_addresses(config.bind_address))}",
        "  port        " + (
            f"{port(config.sip_udp_port)} (UDP and TCP)"
            if config.sip_udp_port == config.sip_tcp_port
            else f"{port(config.sip_udp_port)} (UDP), {port(config.sip_tcp_port)} (TCP)"
        ) + f", {port(config.sip_tls_port)} (TLS)",
        f"  realm       {config.realm}",
    ]
    if demos:
        lines.append(_credentials(demos))
    else:
        lines.append("  user/password: an extension from `appliance ext list --secrets`")
    return "\n".join(lines)


# -- web -------------------------------------------------------------------------------------------------


def _cmd_web(args: argparse.Namespace) -> int:
    import ipaddress  # noqa: PLC0415

    from appliance.datadir import DataDir  # noqa: PLC0415

    try:
        ipaddress.ip_address(args.bind)
    except ValueError:
        raise UsageError(f"--bind: {args.bind!r} is not an IP address") from None
    if not 1 <= args.workers <= 16:
        raise UsageError("--workers must be between 1 and 16")
    level = str(args.log_level).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise UsageError("--log-level must be DEBUG, INFO, WARNING or ERROR")
    http_port = None if args.no_http else args.http_port
    if http_port is not None and http_port == args.https_port and http_port != 0:
        raise UsageError("--http-port and --https-port must differ")
    datadir = DataDir(args.data)
    datadir.create()
    _prepare(datadir, {"data_dir": args.data})  # database and certificate, as `appliance init`

    from appliance.store import open_database  # noqa: PLC0415
    from appliance.webui import firststart, serve  # noqa: PLC0415

    db = open_database(datadir.database_path)
    try:
        password = firststart.ensure_admin_password(db)
    finally:
        db.close()
    try:
        listeners = serve.open_listeners(args.bind, args.https_port, http_port)
    except OSError as err:
        print(f"appliance: error: cannot listen on {args.bind}: {err.strerror or err}", file=sys.stderr)
        return EXIT_FAILED
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(_web_banner(args.bind, listeners.https_port, listeners.http_port, password), flush=True)
    status = serve.run(datadir.path, listeners, workers=args.workers, log_level=level,
                       access_log=args.access_log)
    return EXIT_OK if status == 0 else EXIT_FAILED


def _web_banner(bind: str, https_port: int, http_port: int | None, password: str | None) -> str:
    port = "" if https_port == 443 else f":{https_port}"
    urls = []
    for address in _server_addresses(bind):
        host, _, note = address.partition(" ")
        host = f"[{host}]" if ":" in host else host
        urls.append(f"https://{host}{port}/" + (f" {note}" if note else ""))
    lines = ["web UI: " + urls[0], *[f"        {url}" for url in urls[1:]]]
    if http_port is not None:
        lines.append(f"  plain http on port {http_port} redirects there")
    lines.append("  the browser warns about the box's self-signed certificate until a real one is installed")
    if password is not None:
        lines.append(f"  administrator: admin / {password}   (shown once: change it under Admin password)")
    else:
        lines.append("  administrator: admin (password set earlier; the serial console can reset it)")
    lines.append("  the extension portal is off until the administrator switches it on")
    return "\n".join(lines)


# -- extensions ------------------------------------------------------------------------------------------


def _validated(**values: Any) -> dict[str, Any]:
    from appliance.store.exceptions import InvalidValue  # noqa: PLC0415
    from appliance.store.extensions import validate_fields  # noqa: PLC0415

    try:
        return validate_fields(**values)
    except InvalidValue as err:
        raise UsageError(str(err)) from err


def _open_existing(args: argparse.Namespace) -> Any:
    """The database of an initialised data directory; never creates one (a typo in --data stays harmless)."""
    from appliance.datadir import DataDir  # noqa: PLC0415
    from appliance.store import migrate, open_database  # noqa: PLC0415

    datadir = DataDir(args.data)
    if not datadir.database_path.exists():
        raise _NotInitialised(datadir.path)
    db = open_database(datadir.database_path)
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


class _NotInitialised(ApplianceError):
    def __init__(self, path: os.PathLike[str]) -> None:
        super().__init__(f"no database in {os.fspath(path)} (run `appliance init --data {os.fspath(path)}`)")


def _with_extensions(args: argparse.Namespace, action: Callable[[Any], str]) -> int:
    from appliance.store import ExtensionStore  # noqa: PLC0415

    db = _open_existing(args)
    try:
        message = action(ExtensionStore(db))
    finally:
        db.close()
    print(message + _notify_daemon(args.data))
    return EXIT_OK


def _cmd_ext_add(args: argparse.Namespace) -> int:
    from appliance.store.bootstrap import generate_secret  # noqa: PLC0415

    generated = args.secret is None
    secret = generate_secret() if generated else args.secret
    values = _validated(
        number=args.number, name=args.name, secret=secret, email=args.email, department=args.department
    )

    def add(store: Any) -> str:
        store.add(values.pop("number"), values.pop("name"), values.pop("secret"), **values)
        note = f" with generated password {secret}" if generated else ""
        return f"extension {args.number} added{note}"

    return _with_extensions(args, add)


def _cmd_ext_set(args: argparse.Namespace) -> int:
    given = {
        key: getattr(args, key)
        for key in ("name", "secret", "email", "department", "enabled")
        if getattr(args, key) is not None
    }
    _validated(number=args.number)
    if not given:
        raise UsageError("nothing to change (give --name, --secret, --email, --department, --enable or --disable)")
    changes = _validated(**given)
    return _with_extensions(args, lambda store: _set(store, args.number, changes))


def _set(store: Any, number: str, changes: dict[str, Any]) -> str:
    store.update(number, **changes)
    return f"extension {number} changed ({', '.join(sorted(changes))})"


def _cmd_ext_del(args: argparse.Namespace) -> int:
    _validated(number=args.number)

    def delete(store: Any) -> str:
        store.delete(args.number)
        return f"extension {args.number} deleted"

    return _with_extensions(args, delete)


def _cmd_ext_list(args: argparse.Namespace) -> int:
    from appliance.store import ExtensionStore  # noqa: PLC0415

    db = _open_existing(args)
    try:
        extensions = ExtensionStore(db).list()
    finally:
        db.close()
    columns = ["number", "name", "email", "department", "enabled"] + (["secret"] if args.secrets else [])
    rows = [
        {
            "number": e.number, "name": e.name, "email": e.email or "", "department": e.department or "",
            "enabled": "yes" if e.enabled else "no", "secret": e.secret,
        }
        for e in extensions
    ]
    print(format_table(rows, columns) if rows else "no extensions")
    return EXIT_OK


def _notify_daemon(data: str) -> str:
    """Best effort: ask a running pbxd to reload now (it would notice via the change counter anyway)."""
    from appliance.control import ControlError, request  # noqa: PLC0415
    from appliance.datadir import DataDir  # noqa: PLC0415

    try:
        reply = request(DataDir(data).control_socket_path, "reload", timeout=2.0)
    except ControlError as err:
        log.debug("no reload: %s", err)
        return ""
    return " (pbxd reloaded)" if reply.get("ok") else ""


# -- status / console ------------------------------------------------------------------------------------

#: Preferred column order per status section; other keys follow in the order pbxd sends them.
_SECTION_COLUMNS = {
    "registrations": ["extension", "aor", "contact", "source", "received", "expires_in", "user_agent"],
    "calls": ["id", "caller", "called", "state", "duration"],
}


def _cmd_status(args: argparse.Namespace) -> int:
    from appliance.control import DaemonNotRunning, request  # noqa: PLC0415
    from appliance.datadir import DataDir  # noqa: PLC0415

    try:
        reply = request(DataDir(args.data).control_socket_path, "status", timeout=args.timeout)
    except DaemonNotRunning as err:
        print(f"appliance: {err}; start it with `appliance run --data {args.data}`", file=sys.stderr)
        return EXIT_FAILED
    if not reply.get("ok"):
        print(f"appliance: error: pbxd refused status: {reply.get('error', 'no reason given')}",
              file=sys.stderr)
        return EXIT_FAILED
    import datetime as dt  # noqa: PLC0415

    # the adapter reads the wall clock once: the RTC's drift is shown against it
    print(_encodable(format_status(reply, now=dt.datetime.now(dt.UTC)), sys.stdout))
    return EXIT_OK


def _encodable(text: str, stream: Any) -> str:
    """'°C' becomes ' C' on a stream that cannot encode it (a C-locale terminal without UTF-8)."""
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return text.replace(" °C", " C").encode("ascii", "replace").decode("ascii")
    return text


def format_status(reply: Mapping[str, Any], *, now: Any = None) -> str:
    """Render a status reply: scalars, then objects as `key: a=1, b=2`, then board health as readable
    lines (`now`, an aware UTC datetime, gives the RTC's drift), then every list as a table
    (registrations and calls always, saying "none" when empty)."""
    from appliance.health.report import health_lines  # noqa: PLC0415

    fields = {k: v for k, v in reply.items() if k not in ("ok", "id")}
    health = fields.pop("health", None)
    lines = [f"{key}: {_cell(value)}" for key, value in fields.items() if not isinstance(value, (list, dict))]
    lines += [
        f"{key}: " + ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
        for key, value in fields.items()
        if isinstance(value, dict)
    ]
    if isinstance(health, dict):
        lines += ["Board health:", *health_lines(health, now)]
    lists = [k for k, v in fields.items() if isinstance(v, list) and k not in _SECTION_COLUMNS]
    sections = [*_SECTION_COLUMNS, *lists]
    for key in sections:
        items = [item for item in fields.get(key) or [] if isinstance(item, dict)]
        title = key.replace("_", " ").capitalize()
        lines.append("")
        if not items:
            lines.append(f"{title}: none")
            continue
        preferred = _SECTION_COLUMNS.get(key, [])
        extra = [k for item in items for k in item if k not in preferred]
        columns = [c for c in preferred if any(c in item for item in items)] + list(dict.fromkeys(extra))
        lines.append(f"{title} ({len(items)}):")
        lines.append(format_table(items, columns))
    return "\n".join(lines).lstrip("\n")


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A plain-text table with a header row; missing cells are blank."""
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(r[i]) for r in cells]) for i, column in enumerate(columns)]
    header = "  ".join(column.upper().ljust(widths[i]) for i, column in enumerate(columns))
    body = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(r)).rstrip() for r in cells]
    return "\n".join([header.rstrip(), *body])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"), default=str)
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:.1f}"
    return str(value)


def _network_manager(args: argparse.Namespace) -> tuple[Any, Any]:
    from appliance.network import NetworkManager  # noqa: PLC0415
    from appliance.network.context import context_from_env  # noqa: PLC0415
    from appliance.store import SettingsStore  # noqa: PLC0415

    db = _open_existing(args)
    return NetworkManager(SettingsStore(db), context_from_env()), db


def _cmd_network_apply(args: argparse.Namespace) -> int:
    """Boot: configure the saved WAN/LAN settings (S45network falls back to DHCP when this fails)."""
    manager, db = _network_manager(args)
    try:
        result = manager.apply_saved()
    finally:
        db.close()
    print(f"network: {result.describe()}")
    return 0 if result.ok else EXIT_FAILED


def _cmd_network_show(args: argparse.Namespace) -> int:
    from appliance.network import link_statuses  # noqa: PLC0415

    manager, db = _network_manager(args)
    try:
        saved = manager.saved()
        for config in saved.interfaces():
            print(config.describe())
        print("live:")
        for status in link_statuses(saved, manager.context):
            print("  " + status.describe())
    finally:
        db.close()
    return 0


def _read_secret(prompt: str) -> str:
    """From the terminal without echo; from standard input, one line each, when it is not a terminal."""
    if sys.stdin.isatty():
        import getpass  # noqa: PLC0415

        return getpass.getpass(prompt)
    line = sys.stdin.readline()
    if not line:
        raise UsageError("no PIN on standard input (give it twice, one per line)")
    return line.rstrip("\r\n")


def _cmd_console_pin_set(args: argparse.Namespace) -> int:
    """The PIN is checked and typed twice before the data directory is opened; stored as a scrypt hash."""
    from appliance.console.pin import parse_pin  # noqa: PLC0415
    from appliance.console.services import CONSOLE_PIN_KEY  # noqa: PLC0415
    from appliance.passwords import hash_password  # noqa: PLC0415
    from appliance.store import SettingsStore  # noqa: PLC0415

    try:
        pin = parse_pin(_read_secret("New console PIN (4-8 digits): "))
    except ValueError as err:
        raise UsageError(str(err)) from err
    if _read_secret("Type it again: ").strip() != pin:
        raise UsageError("the two PINs differ; nothing changed")
    db = _open_existing(args)
    try:
        SettingsStore(db).set(CONSOLE_PIN_KEY, hash_password(pin))
    finally:
        db.close()
    print("console PIN set: the serial console asks for it before its menu")
    return EXIT_OK


def _cmd_console_pin_clear(args: argparse.Namespace) -> int:
    from appliance.console.services import CONSOLE_PIN_KEY  # noqa: PLC0415
    from appliance.store import SettingsStore  # noqa: PLC0415

    db = _open_existing(args)
    try:
        settings = SettingsStore(db)
        had_pin = bool(settings.get(CONSOLE_PIN_KEY))
        settings.delete(CONSOLE_PIN_KEY)
    finally:
        db.close()
    print("console PIN cleared: the serial console opens on ENTER" if had_pin else "no console PIN was set")
    return EXIT_OK


def _cmd_console(args: argparse.Namespace) -> int:
    try:
        from appliance.console import run_console  # noqa: PLC0415 - another package; optional here
    except ModuleNotFoundError as err:
        if err.name not in ("appliance.console",):
            print(f"appliance: error: the installer console cannot start: {err}", file=sys.stderr)
            return EXIT_FAILED
        print("appliance: error: the installer console is not part of this build "
              "(appliance.console is missing)", file=sys.stderr)
        return EXIT_FAILED
    except ImportError as err:
        print(f"appliance: error: the installer console is not available yet ({err})", file=sys.stderr)
        return EXIT_FAILED
    return int(run_console(args) or 0)
