"""`appliance network apply` (what S45network runs at boot) configures the saved settings for real."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from ipaddress import IPv4Interface

import pytest

from tests.integration.netns import ip, veth_namespace
from tests.integration.pbx import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture
def netns() -> Iterator[str]:
    with veth_namespace("pbxnet", {"wan0": None}) as name:
        yield name


def test_network_apply_configures_the_saved_static_wan_address(tmp_path, netns):
    from appliance.network import InterfaceConfig, NetworkSettings
    from appliance.store import SettingsStore, initialize_database

    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "appliance", "init", "--data", str(data)], cwd=ROOT, check=True,
                   capture_output=True)
    db = initialize_database(data / "pbx.sqlite3")
    settings = NetworkSettings(wan=InterfaceConfig("wan", "wan0", "static", address=IPv4Interface("10.88.0.2/24")))
    SettingsStore(db).set("network.settings", settings.to_dict())
    db.conn.close()

    # the namespace shares the host's /etc: keep resolv.conf and the run files in the test's directory
    env = {**os.environ, "APPLIANCE_RESOLV_CONF": str(tmp_path / "resolv.conf"),
           "APPLIANCE_NET_RUN_DIR": str(tmp_path / "run")}
    result = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-m", "appliance", "network", "apply",
                             "--data", str(data)], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "applied" in result.stdout
    addresses = ip("netns", "exec", netns, "ip", "-4", "-o", "addr", "show", "dev", "wan0").stdout
    assert "10.88.0.2/24" in addresses
