"""Where a feed's redirect may lead: public addresses only, unless told otherwise.

A feed on the internet that redirects to 127.0.0.1:5432 or 169.254.169.254 would make the
poller fetch from the private network on its behalf and store what it read. Pure apart from
:func:`resolve`, which asks the system resolver.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

__all__ = ["IPAddress", "address_kind", "parse_ip", "resolve"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 prefixes that carry an IPv4 address in their last 32 bits (RFC 6052 NAT64, RFC 4291
# "IPv4-compatible"): the IPv4 address inside decides.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _inner_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _V4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_kind(ip: IPAddress) -> str | None:
    """What keeps ``ip`` off-limits ("loopback", "private", ...), or None if it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _inner_v4(ip)
        if inner is not None:
            return address_kind(inner)
    for kind, hit in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
        ("reserved", ip.is_reserved),
    ):
        if hit:
            return kind
    return None if ip.is_global else "non-public"


def parse_ip(host: str) -> IPAddress | None:
    """``host`` as an IP address if it is written as one (brackets and zone allowed)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, as a connection to it would see them."""
    literal = parse_ip(host)
    if literal is not None:
        return [literal]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = parse_ip(str(sockaddr[0]))
        if ip is not None and ip not in found:
            found.append(ip)
    return found
