"""`appliance web`: arguments are checked before anything is opened; busy ports fail with exit code 1."""

from __future__ import annotations

import socket

import pytest

from appliance import cli


@pytest.mark.parametrize("args, message", [
    (["--bind", "not-an-ip"], "not an IP address"),
    (["--workers", "0"], "--workers"),
    (["--log-level", "LOUD"], "--log-level"),
    (["--https-port", "9000", "--http-port", "9000"], "must differ"),
])
def test_bad_arguments_exit_with_2_and_create_nothing(tmp_path, capsys, args, message):
    data = tmp_path / "data"
    assert cli.main(["web", "--data", str(data), *args]) == 2
    assert message in capsys.readouterr().err and not data.exists()


def test_a_busy_port_exits_with_1(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = cli.main(["web", "--data", str(tmp_path / "d"), "--bind", "127.0.0.1", "--https-port", str(port),
                         "--no-http"])
    assert code == 1 and "cannot listen" in capsys.readouterr().err


def test_the_banner_names_the_address_ports_and_password():
    banner = cli._web_banner("127.0.0.1", 8443, 8080, "Secret123")
    assert "https://127.0.0.1:8443/" in banner and "port 8080 redirects" in banner and "Secret123" in banner
    assert "https://[::1]/" in cli._web_banner("::1", 443, None, None)
