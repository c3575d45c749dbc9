"""Public versus private addresses, and which hosts a server may bind."""

from __future__ import annotations

import pytest

from security.errors import ForbiddenAddress
from security.network import (
    check_bind_host,
    check_public_address,
    is_loopback_host,
    is_public_address,
)

ANY = "0.0.0.0"  # noqa: S104 -- the address under test, never bound

NOT_PUBLIC = [
    "127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "169.254.169.254", "100.64.0.1", "100.127.255.254", ANY, "224.0.0.1",
    "239.255.255.250", "240.0.0.1", "255.255.255.255", "198.18.0.1", "192.0.2.1",
    "::1", "::", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "[::1]",
    "2002:7f00:1::", "2002:c0a8:101::1", "64:ff9b::7f00:1", "64:ff9b::a00:1", "2001:db8::1",
    "not-an-ip", "", "example.com", "1.2.3", "127.1",
]
PUBLIC = ["1.1.1.1", "8.8.8.8", "93.184.216.34", "100.128.0.1", "2606:4700:4700::1111",
          "::ffff:8.8.8.8", "[2a00:1450:4001:80b::200e]", "64:ff9b::808:808"]


@pytest.mark.parametrize("ip", NOT_PUBLIC)
def test_not_public(ip: str) -> None:
    assert is_public_address(ip) is False


@pytest.mark.parametrize("ip", PUBLIC)
def test_public(ip: str) -> None:
    assert is_public_address(ip) is True


def test_check_public_address() -> None:
    assert check_public_address("8.8.8.8") == "8.8.8.8"
    assert check_public_address("10.0.0.1", allow_private=True) == "10.0.0.1"
    with pytest.raises(ForbiddenAddress, match="private, loopback or reserved"):
        check_public_address("169.254.169.254")
    with pytest.raises(ForbiddenAddress, match="not an IP address"):
        check_public_address("localhost", allow_private=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost",
                                  "LOCALHOST.", "::ffff:127.0.0.1"])
def test_loopback_hosts_bind(host: str) -> None:
    assert is_loopback_host(host)
    assert check_bind_host(host) == host.strip()


@pytest.mark.parametrize("host", [ANY, "::", "", "  ", "192.168.1.5", "8.8.8.8",
                                  "example.com", "localhost.example.com"])
def test_other_hosts_are_refused(host: str) -> None:
    with pytest.raises(ForbiddenAddress, match="STEWARD_ALLOW_PUBLIC_BIND=1"):
        check_bind_host(host)


def test_public_bind_when_allowed() -> None:
    assert check_bind_host(ANY, allow_public=True) == ANY
    with pytest.raises(ForbiddenAddress, match="all interfaces"):
        check_bind_host("", allow_public=True)
