"""Public identifiers: a type prefix and a ULID, so ids are URL-safe and sort by creation time."""

from typing import Any

from django.db import models
from ulid import ULID


def new_id(prefix: str, separator: str = "_") -> str:
    return f"{prefix}{separator}{str(ULID()).lower()}"


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
