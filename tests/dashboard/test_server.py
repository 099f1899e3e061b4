"""Where the server listens: this machine only, unless the user asks for more."""

from __future__ import annotations

import socket
import tomllib

import pytest

try:  # tests/dashboard as a package, or as a rootdir-inserted folder (pytest's default)
    from .browser import REPO, start_server, stop_server, wait_healthy
except ImportError:
    from browser import REPO, start_server, stop_server, wait_healthy


def test_config_listens_on_loopback_only():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"


def _non_loopback_address() -> str | None:
    """This machine's address on its default route (no packet is sent), or None without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


@pytest.mark.slow
def test_a_started_server_is_not_reachable_from_the_network():
    other = _non_loopback_address()
    if other is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    server = start_server(address=None)  # the address comes from .streamlit/config.toml
    try:
        wait_healthy(server)  # answers on 127.0.0.1
        with pytest.raises(OSError):  # refused: nothing listens on the outward interface
            socket.create_connection((other, server.port), timeout=5).close()
    finally:
        stop_server(server)


def test_the_sidebar_warns_when_served_beyond_this_machine():
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    kept = config.get_option("server.address")
    try:
        for address, shown in (("127.0.0.1", None), ("0.0.0.0", "0.0.0.0"), (None, "every network interface")):
            config.set_option("server.address", address)
            at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=60)
            at.run()
            warnings = [w.value for w in at.sidebar.warning]
            assert warnings == ([] if shown is None else [
                f"Served on {shown}: anyone who can reach this port sees the data loaded here. "
                "`--server.address 127.0.0.1` keeps it on this machine."])
    finally:
        config.set_option("server.address", kept)
