"""The side navigation: entries per role, shown only when their page exists in this build.

A later module (voicemail, fax, trunks, routes, queues, shared mailboxes …) only has to register its
blueprint with the endpoint named here for its entry to appear; no stub pages are needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, request, url_for

from appliance.webui.security import current_user


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    icon: str
    args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NavSection:
    title: str
    role: str
    items: tuple[NavItem, ...]


SECTIONS = (
    NavSection("My extension", "extension", (
        NavItem("dial.index", "Web dial", "dial"),
        NavItem("contacts.index", "Contacts", "contacts"),
        NavItem("status.index", "Extensions", "status"),
        NavItem("calllogs.index", "Call logs", "log"),
        NavItem("voicemail.index", "Voicemail", "voicemail"),
        NavItem("fax.index", "Fax", "fax"),
        NavItem("forwarding.index", "Call forwarding", "forward"),
        NavItem("features.index", "Feature codes", "codes"),
        NavItem("settings.index", "Settings", "settings"),
    )),
    NavSection("Administration", "admin", (
        NavItem("admin_extensions.index", "Extensions", "status"),
        NavItem("status.index", "Extension status", "status"),
        NavItem("contacts.index", "Company phonebook", "contacts", {"book": "company"}),
        NavItem("calllogs.index", "Call logs", "log"),
        NavItem("mailboxes.index", "Shared mailboxes", "voicemail"),
        NavItem("voicemail_settings.index", "Voicemail settings", "voicemail"),
        NavItem("trunks.index", "Trunks", "trunk"),
        NavItem("routes.index", "Routes", "route"),
        NavItem("queues.index", "Queues and groups", "queue"),
        NavItem("features.index", "Feature codes", "codes"),
        NavItem("admin.portal", "Portal and security", "lock"),
        NavItem("admin.smtp", "Email (SMTP)", "mail"),
        NavItem("admin.box", "Box and certificate", "box"),
        NavItem("network.index", "Network", "network"),
        NavItem("admin.password", "Admin password", "key"),
    )),
)


def navigation() -> list[dict[str, Any]]:
    """The sections and entries the current user may see, with `active` set on the current page."""
    user = current_user()
    if user is None:
        return []
    views = current_app.view_functions
    sections = []
    for section in SECTIONS:
        if section.role != user.role:
            continue
        items = [
            {
                "label": item.label,
                "icon": item.icon,
                "url": url_for(item.endpoint, **item.args),
                "active": request.endpoint == item.endpoint
                and all(request.args.get(k, v) == v for k, v in item.args.items()),
            }
            for item in section.items
            if item.endpoint in views
        ]
        sections.append({"title": section.title, "items": items})
    return sections


def init_app(app: Flask) -> None:
    app.jinja_env.globals["navigation"] = navigation
