"""Which webhook targets may be contacted (the SSRF guard).

Subscribers choose the URL, so without a guard fleetwatch could be made to POST to its own
admin port, a cloud metadata service (169.254.169.254) or anything on the private network.
Unless ``webhook_allow_private_targets`` is set, every address a target host resolves to must
be globally routable. Checking the name is not enough (a public name can resolve to 127.0.0.1),
and resolving twice is not enough either (DNS rebinding: the second answer can differ), so the
sender connects to the exact address that was vetted here, keeping the original name for the
Host header and TLS (SNI and certificate checks).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(Exception):
    """The target is not allowed; no connection was attempted."""


class TargetUnresolved(Exception):
    """The target's name did not resolve (maybe for now): worth retrying."""


def target_url(url: str) -> httpx.URL:
    """Parse a subscription URL: http(s) with a host; raises TargetRefused otherwise."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise TargetRefused(f"not a valid URL: {error}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise TargetRefused("a webhook URL must be http:// or https:// with a host")
    return parsed


def display_url(url: str) -> str:
    """The URL without credentials or query string (either may hold a token)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid url>"
    return str(parsed.copy_with(userinfo=b"", query=None, fragment=None))


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be contacted, or None when it is globally routable."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return forbidden_reason(embedded)
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-global", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    # IPv6 forms that carry an IPv4 address reach that IPv4 host; judge the inner address.
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (TCP)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def vetted_addresses(url: httpx.URL, allow_private: bool, resolve: Resolver) -> list[str]:
    """The addresses to connect to for ``url``; raises TargetRefused if any is forbidden."""
    host = url.raw_host.decode("ascii")  # IDNA-encoded, as DNS and TLS want it
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        ipaddress.ip_address(host)
        found, how = [host], "is"
    except ValueError:
        how = "resolves to"
        try:
            found = await resolve(host, port)
        except OSError as error:
            raise TargetUnresolved(f"cannot resolve {host}: {error.strerror or error}") from None
    addresses = list(dict.fromkeys(str(ipaddress.ip_address(a.split("%")[0])) for a in found))
    if not addresses:
        raise TargetUnresolved(f"{host} resolves to no address")
    if not allow_private:
        for text in addresses:
            reason = forbidden_reason(ipaddress.ip_address(text))
            if reason is not None:
                raise TargetRefused(f"{host} {how} a {reason} address ({text})")
    return addresses


def refuse_literal_target(url: str, allow_private: bool) -> None:
    """Early check at subscription time: URL shape, and a literal IP host's class."""
    parsed = target_url(url)
    if allow_private:
        return
    try:
        address = ipaddress.ip_address(parsed.host)
    except ValueError:
        return
    reason = forbidden_reason(address)
    if reason is not None:
        raise TargetRefused(f"{parsed.host} is a {reason} address")
