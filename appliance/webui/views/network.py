"""Administrator: the box's WAN and LAN settings, changed through pbxd with confirm-or-roll-back.

pbxd holds the change under way (appliance.network.service): the page asks it to apply, then shows
the countdown with "Keep" and "Go back"; the form validates with the network model's parsers, so it
refuses exactly what the console refuses, with the same messages, each next to its field.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for

from appliance.network.model import (
    MAX_ROUTES,
    MODES,
    ROLES,
    SETTINGS_KEY,
    InterfaceConfig,
    NetworkSettings,
    StaticRoute,
    check_device_name,
    check_gateway,
    check_host_in_network,
    check_routes,
    default_settings,
    parse_dns_list,
    parse_host_ipv4,
    parse_netmask,
    parse_route_lines,
    parse_vlan,
    prefix_to_netmask,
)
from appliance.webui import db as webdb
from appliance.webui.forms import Form
from appliance.webui.pbx import PbxRefused, PbxUnavailable
from appliance.webui.security import admin_required

log = logging.getLogger(__name__)

bp = Blueprint("network", __name__)

PARTS = ("device", "mode", "address", "netmask", "gateway", "dns", "vlan", "routes")
FIELDS = [f"{role}_{part}" for role in ROLES for part in PARTS]
#: how long the page keeps showing how the last change ended
LAST_SHOWN_SECONDS = 600


def _sentence(err: Exception) -> str:
    text = str(err)
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _stored_settings() -> NetworkSettings:
    """What the database holds (the page still shows it when pbxd is down)."""
    data = webdb.settings().get(SETTINGS_KEY)
    try:
        return NetworkSettings.from_dict(data) if data else default_settings()
    except ValueError as err:
        log.error("stored network settings are invalid: %s", err)
        return default_settings()


def _daemon_state() -> tuple[dict[str, Any] | None, str | None]:
    try:
        return webdb.pbx().network_status(), None
    except (PbxUnavailable, PbxRefused) as err:
        return None, str(err)


def _settings_or_none(data: dict[str, Any] | None) -> NetworkSettings | None:
    try:
        return NetworkSettings.from_dict(data) if data else None
    except ValueError as err:
        log.warning("pbxd reported unreadable network settings: %s", err)
        return None


def form_values(settings: NetworkSettings) -> dict[str, Any]:
    """The form as it starts: the settings' values, netmasks dotted, lists comma-separated."""
    values: dict[str, Any] = {"lan_enabled": settings.lan is not None}
    for role in ROLES:
        config = settings.get(role)
        values.update({f"{role}_{part}": "" for part in PARTS})
        values[f"{role}_mode"] = "static" if role == "lan" else "dhcp"
        if config is None:
            continue
        values.update({
            f"{role}_device": config.device, f"{role}_mode": config.mode,
            f"{role}_address": str(config.address.ip) if config.address else "",
            f"{role}_netmask": prefix_to_netmask(config.address.network.prefixlen) if config.address else "",
            f"{role}_gateway": str(config.gateway or ""), f"{role}_dns": ", ".join(map(str, config.dns)),
            f"{role}_vlan": str(config.vlan or ""),
            f"{role}_routes": "\n".join(map(str, config.routes)),
        })
    return values


def parse_interface(form: Form, role: str, devices: list[str]) -> InterfaceConfig | None:
    """One role's fields; every problem is recorded on its field, None when there was any."""
    p = f"{role}_"
    before = len(form.errors)
    device = form.text(p + "device")
    try:
        check_device_name(device)
        if devices and device not in devices:
            raise ValueError(f"this box has no network device named {device}")
    except ValueError as err:
        form.error(p + "device", _sentence(err))
    mode = form.text(p + "mode")
    if mode not in MODES:
        form.error(p + "mode", "Choose DHCP or static.")
    values: dict[str, Any] = {}
    for part, parse in (("vlan", parse_vlan), ("dns", lambda text: parse_dns_list(text) if text else ())):
        try:
            values[part] = parse(form.text(p + part))
        except ValueError as err:
            form.error(p + part, _sentence(err))
    interface = gateway = None
    if mode == "static":
        interface = _static_address(form, p)
        if form.text(p + "gateway"):
            try:
                gateway = parse_host_ipv4(form.text(p + "gateway"), "gateway")
                if interface is not None:
                    check_gateway(gateway, interface)
            except ValueError as err:
                form.error(p + "gateway", _sentence(err))
    routes = parse_routes(form, p + "routes", interface if mode == "static" else None)
    if len(form.errors) > before:
        return None
    try:
        return InterfaceConfig(role, device, mode, interface, gateway, values["dns"], values["vlan"],  # type: ignore[arg-type]
                               routes)
    except ValueError as err:
        form.error(p + ("routes" if "route" in str(err) else "device"), _sentence(err))
        return None


def parse_routes(form: Form, name: str, interface: ipaddress.IPv4Interface | None) -> tuple[StaticRoute, ...]:
    """The routes textarea, one route per line; each problem is recorded as 'Line n: ...' on the field, one
    line of the message per line of the input (the template lists them). `interface`: the static subnet."""
    numbered, errors = parse_route_lines(str(form.get(name) or ""))
    problems = list(errors)
    first_line: dict[ipaddress.IPv4Network, int] = {}
    for number, route in numbered:
        try:
            if route.destination in first_line:
                raise ValueError(f"the route to {route.destination} is already on line {first_line[route.destination]}")
            first_line[route.destination] = number
            check_routes((route,), interface)
        except ValueError as err:
            problems.append((number, str(err)))
    messages = [f"Line {number}: {_sentence(message)}" for number, message in sorted(problems)]
    if len(numbered) > MAX_ROUTES:
        messages.append(f"At most {MAX_ROUTES} routes per port; there are {len(numbered)}.")
    if messages:
        form.error(name, "\n".join(messages))
    return tuple(route for _, route in numbered)


def _static_address(form: Form, p: str) -> ipaddress.IPv4Interface | None:
    address = prefix = None
    try:
        address = parse_host_ipv4(form.text(p + "address"), "address")
    except ValueError as err:
        form.error(p + "address", _sentence(err))
    try:
        prefix = parse_netmask(form.text(p + "netmask"))
    except ValueError as err:
        form.error(p + "netmask", _sentence(err))
    if address is None or prefix is None:
        return None
    interface = ipaddress.IPv4Interface(f"{address}/{prefix}")
    try:
        check_host_in_network(interface)
    except ValueError as err:
        form.error(p + "address", _sentence(err))
        return None
    return interface


def parse_form(form: Form, saved: NetworkSettings, devices: list[str]) -> NetworkSettings | None:
    """The whole form as NetworkSettings (search domains kept from `saved`), or None with errors recorded."""
    wan = parse_interface(form, "wan", devices)
    lan = parse_interface(form, "lan", devices) if form.get("lan_enabled") else None
    if not form.ok or wan is None:
        return None
    try:
        return NetworkSettings(wan=wan, lan=lan, search=saved.search)
    except ValueError as err:
        field = "lan_address" if "overlaps" in str(err) else "lan_routes" if "route" in str(err) else "lan_device"
        form.error(field, _sentence(err))
        return None


def _usable_links(state: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Devices a role may use: the live ones, without VLAN sub-devices (they are made from the VLAN field)."""
    links = (state or {}).get("links") or []
    return sorted((link for link in links if link.get("present", True) and "." not in link["name"]),
                  key=lambda link: link["name"])


def _devices(state: dict[str, Any] | None) -> list[str]:
    return [link["name"] for link in _usable_links(state)]


def _device_choices(state: dict[str, Any] | None) -> list[tuple[str, str]]:
    return [(link["name"], f"{link['name']} ({link.get('state', '?')}"
             + "".join(f", {address}" for address in link.get("addresses") or []) + ")")
            for link in _usable_links(state)]


def _new_addresses(state: dict[str, Any], target: NetworkSettings | None) -> list[dict[str, Any]]:
    """Where the web UI is found after the change, for every role the change moves."""
    saved = _settings_or_none(state.get("saved"))
    if target is None:
        return []
    split = urlsplit(request.host_url)
    port = f":{split.port}" if split.port else ""
    live = {link["name"]: link.get("addresses") or [] for link in state.get("links") or []}
    found = []
    for role in ROLES:
        config = target.get(role)
        if config is None or (saved is not None and saved.get(role) == config):
            continue
        leased = live.get(config.ifname) or [""]  # DHCP: known once the lease is on the device
        address = str(config.address.ip) if config.address is not None else leased[0].split("/")[0]
        url = f"{split.scheme}://{address}{port}{url_for('network.index')}" if address else None
        found.append({"role": role.upper(), "mode": config.mode, "address": address, "url": url})
    return found


def _leaving(state: dict[str, Any], target: NetworkSettings | None) -> str | None:
    """The address this browser uses, when the change takes it away from the box."""
    host = urlsplit(request.host_url).hostname or ""
    saved = _settings_or_none(state.get("saved"))
    try:
        used = ipaddress.IPv4Address(host)
    except ValueError:
        return None
    old = {c.address.ip for c in saved.interfaces() if c.address} if saved else set()
    new = {c.address.ip for c in target.interfaces() if c.address} if target else set()
    return host if used in old and used not in new else None


def _page(form: Form | None = None, status: int = 200, problem: str | None = None):  # noqa: ANN202
    state, daemon_error = _daemon_state()
    saved = (_settings_or_none(state.get("saved")) if state else None) or _stored_settings()
    context: dict[str, Any] = {"state": state, "daemon_error": daemon_error, "saved": saved, "problem": problem,
                               "form": form or Form(form_values(saved), checkboxes=["lan_enabled"]),
                               "devices": _devices(state), "device_choices": _device_choices(state),
                               "roles": ROLES}
    if state is not None:
        pending = state.get("pending") or {}
        target = _settings_or_none(pending.get("settings") or state.get("applying"))
        context.update(
            target=target, new_addresses=_new_addresses(state, target), leaving=_leaving(state, target),
            seconds_left=math.ceil(pending.get("seconds_left", 0)),
            last=state["last"] if state.get("last") and state["last"]["seconds_ago"] < LAST_SHOWN_SECONDS else None,
        )
    return render_template("network/index.html", **context), status


@bp.route("/admin/network", methods=["GET"], endpoint="index")
@admin_required
def index():  # noqa: ANN201
    return _page()


@bp.route("/admin/network", methods=["POST"], endpoint="apply")
@admin_required
def apply():  # noqa: ANN201
    form = Form.from_request(request.form, FIELDS, checkboxes=["lan_enabled"])
    state, daemon_error = _daemon_state()
    if state is None:
        return _page(form, 503, f"Nothing was changed: {daemon_error}.")
    saved = _settings_or_none(state.get("saved")) or _stored_settings()
    new = parse_form(form, saved, _devices(state))
    if new is None:
        return _page(form, 400)
    if new == saved and state.get("phase") == "idle":
        flash("These are the settings the box already has; nothing was applied.", "info")
        return redirect(url_for("network.index"), code=303)
    try:
        webdb.pbx().network_apply(new.to_dict())
    except PbxUnavailable as err:
        return _page(form, 503, f"Nothing was changed: {err}.")
    except PbxRefused as err:
        return _page(form, 409, f"Nothing was changed: {err}.")
    log.info("admin asked for network settings from %s: %s", request.remote_addr,
             "; ".join(c.describe() for c in new.interfaces()))
    return redirect(url_for("network.index"), code=303)


@bp.route("/admin/network/confirm", methods=["POST"], endpoint="confirm")
@admin_required
def confirm():  # noqa: ANN201
    try:
        webdb.pbx().network_confirm()
    except (PbxUnavailable, PbxRefused) as err:
        flash(f"The settings were not kept: {err}.", "error")
    else:
        log.info("admin kept the new network settings from %s", request.remote_addr)
    return redirect(url_for("network.index"), code=303)


@bp.route("/admin/network/revert", methods=["POST"], endpoint="revert")
@admin_required
def revert():  # noqa: ANN201
    try:
        webdb.pbx().network_revert()
    except (PbxUnavailable, PbxRefused) as err:
        flash(f"Could not go back: {err}.", "error")
    return redirect(url_for("network.index"), code=303)


@bp.route("/api/network", endpoint="api")
@admin_required
def api():  # noqa: ANN201
    """Polled by the page while a change is under way: its phase and the seconds left to keep it."""
    state, daemon_error = _daemon_state()
    if state is None:
        return {"ok": True, "daemon": False, "message": daemon_error}
    pending = state.get("pending") or {}
    return {"ok": True, "daemon": True, "phase": state.get("phase"), "seconds_left": pending.get("seconds_left")}
