"""Public identifiers: a type prefix and a ULID, so ids are URL-safe and sort by creation time."""

import re
from typing import Any

from django.db import models
from ulid import ULID

# PostgreSQL text cannot hold NUL, and UTF-8 (the encoding of every database here) cannot encode a
# lone surrogate: the driver refuses either before the query runs.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# What new_id makes: a lower-case prefix, the separator, and a ULID's 26 characters.
_ULID_PATTERN = "[0-9a-z]{26}"
PUBLIC_ID_PATTERN = rf"[a-z]+[_-]{_ULID_PATTERN}"
_PUBLIC_ID = re.compile(PUBLIC_ID_PATTERN)


def new_id(prefix: str, separator: str = "_") -> str:
    return f"{prefix}{separator}{str(ULID()).lower()}"


def public_id_pattern(prefix: str, separator: str = "_") -> str:
    """The ids of one type (`pln_…`), unanchored, for a regular expression or an OpenAPI `pattern`."""
    return f"{prefix}{separator}{_ULID_PATTERN}"


def storable(text: str) -> bool:
    """Whether a database text column can hold `text` (and so whether a query may compare it)."""
    return _UNSTORABLE.search(text) is None


def is_public_id(text: str) -> bool:
    """Whether `text` has the shape of a public id. Anything else (a NUL, which PostgreSQL refuses
    in any string, or five kilobytes of path) names no object and need not reach the database."""
    return _PUBLIC_ID.fullmatch(text) is not None


class PublicIdConverter:
    """`<public_id:…>` in a URL pattern: a path whose id is not shaped like one is a 404 of the
    resolver, before any view or query."""

    regex = PUBLIC_ID_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class PublicIdField(models.CharField):
    """The object's public id (`st_…`, `ec_…`); integer primary keys never leave the database."""

    def __init__(self, *args: Any, prefix: str, separator: str = "_", **kwargs: Any) -> None:
        self.prefix = prefix
        self.separator = separator
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("unique", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["prefix"] = self.prefix
        if self.separator != "_":
            kwargs["separator"] = self.separator
        return name, path, args, kwargs

    def has_default(self) -> bool:
        return True

    def get_default(self) -> str:
        return new_id(self.prefix, self.separator)
