"""Where a webhook may be sent (SPEC §7): `https`, to public addresses only.

A URL is checked when an endpoint is saved and again before every attempt, against the addresses
its name resolves to then; the request goes to the address that was checked (the name is kept for
the Host header and TLS), so a name that changes its answer after the check (DNS rebinding)
cannot reach our network. `WEBHOOK_ALLOW_PRIVATE_URLS=true` lifts both rules, for development.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL_LENGTH = 2048
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# NAT64 (RFC 6052) embeds an IPv4 address in the last 32 bits: judged by that address.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UrlRefused(ValueError):
    """The URL may not receive webhooks; the message says why, in the merchant's terms."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written, lower case, without brackets
    port: int
    path: str  # path and query, at least "/"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


_DEFAULT_PORTS = {"https": 443, "http": 80}


def private_allowed() -> bool:
    return bool(settings.WEBHOOK_ALLOW_PRIVATE_URLS)


def parse_url(url: str) -> Target:
    """The URL's parts if it is one we may send to at all; UrlRefused otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise UrlRefused("Enter the URL of your webhook endpoint.")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"A URL is at most {MAX_URL_LENGTH} characters.")
    if not url.isascii() or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise UrlRefused("The URL holds spaces, control or non-ASCII characters; percent-encode them.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"This is not a valid URL ({exc}).") from None
    schemes = ("https", "http") if private_allowed() else ("https",)
    if parts.scheme.lower() not in schemes:
        raise UrlRefused("The URL must start with https://.")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("The URL must not carry a user name or password.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused("The URL has no host name.")
    if parts.fragment:
        raise UrlRefused("The URL must not have a #fragment.")
    scheme = parts.scheme.lower()
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=scheme, host=host, port=port or _DEFAULT_PORTS[scheme], path=path)


def forbidden_reason(address: IpAddress) -> str | None:
    """Why webhooks may not go to `address`, or None if it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None
        )
        if embedded is not None:
            return forbidden_reason(embedded)
        if address.sixtofour is not None and forbidden_reason(address.sixtofour):
            return "a 6to4 address of a non-public host"
        if address.teredo is not None:
            return "a Teredo tunnel address"
    for test, label in (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address (this includes cloud metadata services)"),
        ("is_multicast", "a multicast address"),
        ("is_unspecified", "the unspecified address"),
        ("is_private", "a private-network address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(address, test):
            return label
    if not address.is_global:
        return "an address that is not publicly routable"
    return None


def resolve(target: Target) -> list[IpAddress]:
    """Every address the host resolves to now, each one checked; UrlRefused if any is forbidden.

    All of them, not just the first: a name answering with one public and one private address
    must not reach the private one on the next lookup.
    """
    try:
        literal: IpAddress | None = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise UrlRefused(f"The host name {target.host} does not resolve.") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
        if not addresses:
            raise UrlRefused(f"The host name {target.host} does not resolve.")
    if not private_allowed():
        for address in addresses:
            reason = forbidden_reason(address)
            if reason is not None:
                raise UrlRefused(
                    f"{target.host} resolves to {address}, {reason}; webhooks go to public addresses only."
                )
    return addresses


def check_url(url: str) -> str:
    """The URL, normalized, if webhooks may be sent there now; UrlRefused otherwise."""
    target = parse_url(url)
    resolve(target)
    return url.strip()
