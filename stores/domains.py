"""API-key domain allowlists (SPEC §3 step 4)."""

import re
from urllib.parse import urlsplit

_ENTRY = re.compile(r"^(\*\.)?(?!-)[a-z0-9-]{1,63}(\.(?!-)[a-z0-9-]{1,63})*$")


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
    return entry


def origin_host(origin: str | None) -> str | None:
    """The lower-case host of an origin or URL, without scheme, port, path or trailing dot."""
    if not origin:
        return None
    value = origin.strip()
    if "://" not in value:
        value = f"//{value}"
    try:
        host = urlsplit(value).hostname
    except ValueError:
        return None
    return host.rstrip(".") or None if host else None


def domain_allowed(allowed_domains: list[str], origin: str | None) -> bool:
    """An empty list allows every origin; otherwise the origin's host must match an entry.

    `shop.com` matches only itself; `*.shop.com` matches any subdomain but not the apex.
    """
    if not allowed_domains:
        return True
    host = origin_host(origin)
    if host is None:
        return False
    for entry in allowed_domains:
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and host != entry[2:]:
                return True
        elif host == entry:
            return True
    return False
