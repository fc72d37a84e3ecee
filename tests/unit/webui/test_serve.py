"""Serving: listeners bound by us, gunicorn settings, a TLS context rebuilt only when the files change."""

from __future__ import annotations

import os
import socket
import ssl

import pytest

from appliance.datadir import DataDir
from appliance.webui import serve


def test_listeners_pick_free_ports_and_can_leave_out_http():
    listeners = serve.open_listeners("127.0.0.1", 0, 0)
    try:
        assert listeners.https_port > 0 and listeners.http_port not in (None, listeners.https_port)
    finally:
        listeners.close()
    only = serve.open_listeners("127.0.0.1", 0, None)
    try:
        assert only.http is None and only.http_port is None
    finally:
        only.close()


def test_a_busy_port_fails_before_anything_starts():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError):
            serve.open_listeners("127.0.0.1", 0, busy.getsockname()[1])


def test_ipv6_listener():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    listeners = serve.open_listeners("::1", 0, None)
    listeners.close()


def test_gunicorn_options_for_a_small_box(tmp_path):
    listeners = serve.open_listeners("127.0.0.1", 0, None)
    try:
        options = serve.gunicorn_options(tmp_path, listeners, workers=2, threads=4, log_level="info",
                                         access_log=False)
    finally:
        listeners.close()
    assert options["worker_class"] == "gthread" and options["workers"] == 2 and options["preload_app"]
    assert options["bind"][0].startswith("fd://")
    assert options["certfile"].endswith("tls/server.crt") and options["keyfile"].endswith("tls/server.key")


def test_the_tls_context_is_cached_and_rebuilt_when_the_certificate_changes(tmp_path):
    datadir = DataDir(tmp_path)
    datadir.ensure_tls_certificate()
    built = []

    def factory() -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(datadir.tls_cert_path, datadir.tls_key_path)
        built.append(context)
        return context

    hook = serve.cached_ssl_context(datadir.tls_cert_path, datadir.tls_key_path)
    first = hook(None, factory)
    assert hook(None, factory) is first and len(built) == 1
    datadir.tls_cert_path.unlink()
    datadir.tls_key_path.unlink()
    datadir.ensure_tls_certificate(["new.example"])
    assert hook(None, factory) is not first and len(built) == 2


def test_a_broken_new_certificate_keeps_the_previous_context(tmp_path):
    datadir = DataDir(tmp_path)
    datadir.ensure_tls_certificate()
    hook = serve.cached_ssl_context(datadir.tls_cert_path, datadir.tls_key_path)

    def factory() -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(datadir.tls_cert_path, datadir.tls_key_path)
        return context

    first = hook(None, factory)
    datadir.tls_cert_path.write_text("garbage")
    os.utime(datadir.tls_cert_path, ns=(1, 1))
    assert hook(None, factory) is first
