"""The plain-HTTP redirector: same host, HTTPS port, same path; hostile Host headers cannot steer it."""

from __future__ import annotations

import pytest

from appliance.webui.redirect import redirect_app


def _location(app, host: str = "pbx.example:8080", path: str = "/calls/", query: str = "") -> tuple[str, str]:
    seen = {}

    def start_response(status, headers):  # noqa: ANN001, ANN202
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {"HTTP_HOST": host, "SERVER_NAME": "box.local", "PATH_INFO": path, "QUERY_STRING": query}
    body = b"".join(app(environ, start_response))
    assert seen["headers"]["Location"].encode() in body
    return seen["status"], seen["headers"]["Location"]


def test_requests_are_sent_to_https_on_the_same_host():
    status, location = _location(redirect_app(8443), query="type=inbound&page=2")
    assert status == "302 Found" and location == "https://pbx.example:8443/calls/?type=inbound&page=2"


def test_the_standard_port_is_left_out():
    assert _location(redirect_app(443), host="192.0.2.5")[1] == "https://192.0.2.5/calls/"


def test_ipv6_hosts_keep_their_brackets():
    assert _location(redirect_app(443), host="[2001:db8::1]:80")[1] == "https://[2001:db8::1]/calls/"


@pytest.mark.parametrize("host", ["evil.example/x", "a@b", "x\r\nSet-Cookie: a=b", "[nonsense]", ""])
def test_odd_host_headers_fall_back_to_the_servers_name(host):
    assert _location(redirect_app(443), host=host)[1] == "https://box.local/calls/"


def test_paths_cannot_inject_into_the_location():
    location = _location(redirect_app(443), path="/a b\r\nX: y")[1]
    assert "\r" not in location and " " not in location
