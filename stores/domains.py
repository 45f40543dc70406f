"""API-key domain allowlists (SPEC §3 step 4)."""

import re
from urllib.parse import urlsplit

_HOST = r"(?!-)[a-z0-9-]{1,63}(\.(?!-)[a-z0-9-]{1,63})*"
_ENTRY = re.compile(rf"^(\*\.)?{_HOST}$")
_HOSTNAME = re.compile(_HOST)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def normalize_domain_entry(raw: str) -> str:
    """`Shop.com`, `https://shop.com:443/` and ` *.Shop.com ` become `shop.com` / `*.shop.com`."""
    entry = raw.strip().lower()
    wildcard = entry.startswith("*.")
    host = origin_host(entry[2:] if wildcard else entry)
    if host is None:
        raise ValueError(f"'{raw}' is not a domain: use shop.com or *.shop.com.")
    entry = f"*.{host}" if wildcard else host
    if not _ENTRY.match(entry):
        raise ValueError(f"'{raw}' is not a domain: use shop.com or *.shop.com.")
    if wildcard and "." not in host:
        raise ValueError(f"'{raw}' would allow every site under .{host}: name your own domain, e.g. *.shop.com.")
    return entry


def origin_host(origin: str | None) -> str | None:
    """The lower-case host of an origin or URL, without scheme, port, path or trailing dot."""
    if not origin:
        return None
    value = origin.strip()
    # Scheme-less (`shop.com:8443`) and scheme-relative (`//shop.com`) origins start with their host.
    if not _SCHEME.match(value) and not value.startswith("//"):
        value = f"//{value}"
    try:
        host = urlsplit(value).hostname
    except ValueError:
        return None
    # urlsplit lower-cases only up to a `%` (an IPv6 zone id); the whole host is compared.
    return host.rstrip(".").lower() or None if host else None


def domain_allowed(allowed_domains: list[str], origin: str | None) -> bool:
    """An empty list allows every origin; otherwise the origin's host must match an entry.

    `shop.com` matches only itself; `*.shop.com` matches any subdomain but not the apex.
    """
    if not allowed_domains:
        return True
    host = origin_host(origin)
    # Only a hostname can be a subdomain: `.shop.com` or `*.shop.com` is not one of shop.com.
    if host is None or not _HOSTNAME.fullmatch(host):
        return False
    for entry in allowed_domains:
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and host != entry[2:]:
                return True
        elif host == entry:
            return True
    return False
