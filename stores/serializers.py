"""The button design on the wire (SPEC §17), for the OpenAPI document. The server validates bodies
itself (stores.services.button_design_clean), so the API and the portal refuse the same things;
these say what it accepts, and genvoris/tests/test_schema.py holds the two to the same bounds."""

from django.core.validators import RegexValidator
from rest_framework import serializers

from genvoris.fields import StrictBooleanField, StrictCharField, StrictIntegerField
from stores.models import ButtonDesign

# States in the schema (`pattern`) that a blank label is refused; the server's check is the service's.
NOT_BLANK = RegexValidator(r"\S", "Must not be blank.")


def _bounded(name: str, default: int, help_text: str) -> StrictIntegerField:
    low, high = ButtonDesign.RANGES[name]
    return StrictIntegerField(
        min_value=low, max_value=high, required=False, help_text=f"{help_text}, {low}–{high} (default {default})."
    )


class ButtonDesignOut(serializers.Serializer):
    # The wire name; DRF pops declared fields, so it never shadows Field.label.
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=ButtonDesign.LABEL_MAX, help_text='The button text (default "Try On").'
    )
    icon = serializers.ChoiceField(choices=ButtonDesign.Icon.values, help_text="Default sparkles.")
    borderRadius = serializers.IntegerField(help_text="Pixels.")
    fontSize = serializers.IntegerField(help_text="Pixels.")
    paddingX = serializers.IntegerField(help_text="Pixels.")
    paddingY = serializers.IntegerField(help_text="Pixels.")
    position = serializers.ChoiceField(
        choices=ButtonDesign.Position.values,
        help_text="inline (default): only your own buttons; floating-right or floating-left: the widget "
        "adds its own button in that corner of the page.",
    )
    showOnCards = serializers.BooleanField(help_text="Whether the store plugins add a button to product cards.")


class ButtonDesignEnvelope(serializers.Serializer):
    data = ButtonDesignOut()  # type: ignore[assignment]  # the wire name; DRF pops declared fields


class ButtonDesignIn(serializers.Serializer):
    """Every field is optional: the ones left out keep their values. An unknown field is 400."""

    label = StrictCharField(  # type: ignore[assignment]  # as in ButtonDesignOut
        max_length=ButtonDesign.LABEL_MAX,
        required=False,
        validators=[NOT_BLANK],
        help_text="1–20 characters, not blank, no control characters; surrounding spaces are trimmed.",
    )
    icon = serializers.ChoiceField(choices=ButtonDesign.Icon.values, required=False)
    borderRadius = _bounded("borderRadius", 8, "Corner radius in pixels")
    fontSize = _bounded("fontSize", 14, "Text size in pixels")
    paddingX = _bounded("paddingX", 20, "Left and right padding in pixels")
    paddingY = _bounded("paddingY", 10, "Top and bottom padding in pixels")
    position = serializers.ChoiceField(choices=ButtonDesign.Position.values, required=False)
    showOnCards = StrictBooleanField(required=False)
