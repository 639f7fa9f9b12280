"""Checks on outgoing webhook URLs: what a subscription may point at.

Always: scheme http or https, a host, no credentials in the URL (they would be logged
and shown in listings; use the signing secret instead). With private targets refused
(VITALSTREAM_WEBHOOK_ALLOW_PRIVATE=false, for production), every address the host
resolves to must be public, checked when the subscription is made and again at connect
time by `PublicOnlyResolver`, so a name that later resolves inward (DNS rebinding) is
refused too.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver


class UrlRefused(ValueError):
    """The URL may not be used as a webhook target; the message says why."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@functools.lru_cache(maxsize=4096)  # checked on every attempt; a refusal raises and is not cached
def check_url_syntax(url: str) -> str:
    """Scheme, host and no credentials; returns the host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise UrlRefused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("webhook URL scheme must be http or https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlRefused("webhook URL must not contain credentials")
    if not parts.hostname:
        raise UrlRefused("webhook URL has no host")
    if parts.fragment:
        raise UrlRefused("webhook URL must not have a #fragment")
    return parts.hostname


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse a URL that breaks the rules above (resolves the host when private is refused)."""
    host = check_url_syntax(url)
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UrlRefused(f"webhook host {host!r} does not resolve: {exc}") from None
    for info in infos:
        address = str(info[4][0])
        if not is_public(address):
            raise UrlRefused(f"webhook host {host!r} resolves to non-public address {address}")


def check_literal(host: str) -> None:
    """Refuse a non-public IP literal: aiohttp connects to literals without any resolver."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return  # a name: PublicOnlyResolver checks what it resolves to
    if not is_public(str(literal)):
        raise UrlRefused(f"webhook host {host!r} is a non-public address")


class PublicOnlyResolver(AbstractResolver):
    """An aiohttp resolver that drops private, loopback, link-local and reserved addresses."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        found = await self._inner.resolve(host, port, family)
        public = [entry for entry in found if is_public(entry["host"])]
        if not public:
            # errno + strerror: aiohttp shows strerror in the connection error it raises
            raise OSError(errno.EACCES, f"webhook host {host!r} resolves only to non-public addresses")
        return public

    async def close(self) -> None:
        await self._inner.close()
