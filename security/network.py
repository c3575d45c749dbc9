"""Which addresses Steward may reach and which hosts its servers may bind."""

from __future__ import annotations

import ipaddress

from security.errors import ForbiddenAddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost",
                          "ip6-loopback"})


def parse_address(ip: str) -> IPAddress | None:
    """An IP address from text (brackets and an IPv6 zone allowed), or None if it is not one."""
    text = ip.strip().removeprefix("[").removesuffix("]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _embedded_v4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo client, NAT64), if any."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def _is_public(addr: IPAddress) -> bool:
    if isinstance(addr, ipaddress.IPv6Address):
        inner = _embedded_v4(addr)
        if inner is not None:  # the packet really goes to the IPv4 address it carries
            return _is_public(inner)
        if addr.is_site_local:
            return False
    elif addr in _CGNAT:
        return False
    return addr.is_global and not (
        addr.is_loopback or addr.is_private or addr.is_link_local or addr.is_multicast
        or addr.is_reserved or addr.is_unspecified)


def is_public_address(ip: str) -> bool:
    """True only for a globally routable unicast address; False for loopback, private,
    link-local, CGNAT, multicast, reserved, unspecified, site-local, ULA, an IPv6 address
    carrying one of those IPv4 ones, and for text that is not an address at all."""
    addr = parse_address(ip)
    return addr is not None and _is_public(addr)


def check_public_address(ip: str, allow_private: bool = False) -> str:
    """``ip`` if a fetch may go there; raises ``ForbiddenAddress`` for a non-public address
    unless ``allow_private``."""
    if parse_address(ip) is None:
        raise ForbiddenAddress(f"{ip!r} is not an IP address")
    if not allow_private and not is_public_address(ip):
        raise ForbiddenAddress(f"{ip} is a private, loopback or reserved address; "
                               "fetching it is not allowed")
    return ip


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1, mapped ::ffff:127.x)."""
    if host.strip().lower().rstrip(".") in _LOCAL_NAMES:
        return True
    addr = parse_address(host)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr is not None and addr.is_loopback


def check_bind_host(host: str, allow_public: bool = False) -> str:
    """``host`` if a server may bind it: loopback always, anything else only with
    ``allow_public``; otherwise ``ForbiddenAddress`` naming the way to allow it."""
    if is_loopback_host(host) or (allow_public and host.strip()):
        return host.strip()
    shown = host.strip() or "all interfaces"
    raise ForbiddenAddress(f"refusing to listen on {shown}: servers bind to loopback "
                           "(127.0.0.1) unless STEWARD_ALLOW_PUBLIC_BIND=1")
