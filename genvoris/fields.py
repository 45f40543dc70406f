"""Serializer fields that take JSON types as they are ("4" is not an integer, "yes" not a
boolean) and write timestamps the way the published SDKs read them."""

from datetime import UTC, datetime
from typing import Any

from rest_framework import serializers


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and `Z`: `2026-11-29T13:37:22.123Z`."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class UtcDateTimeField(serializers.DateTimeField):
    def to_representation(self, value: datetime) -> str:
        return iso_utc(value) or ""  # DRF renders None itself and never calls this with it
