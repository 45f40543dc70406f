"""The portal's webhook forms: an endpoint as a merchant writes it, and the delivery log's filters.

The forms check shape only; the services check the rest (https, public addresses, known event
types) and their field errors are shown on the form (see stores/webhooks/views.py).
"""

from dataclasses import dataclass
from typing import Any

from django import forms
from django.forms.boundfield import BoundWidget

from stores.webhooks.catalogue import ALL, EVENT_TYPES, LEGACY_EVENT_TYPES, SUBSCRIBABLE, TEST
from stores.webhooks.models import WebhookDelivery, WebhookEndpoint


class EventCheckboxes(forms.CheckboxSelectMultiple):
    """Checkboxes each described by the catalogue's sentence about when the event fires."""

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        option["attrs"]["aria-describedby"] = f"{option['attrs']['id']}_about"
        return option


@dataclass(frozen=True)
class EventGroup:
    title: str
    intro: str
    options: list[tuple[BoundWidget, str]]  # (checkbox, what makes it fire)


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(
        max_length=2048,
        label="Endpoint URL",
        widget=forms.TextInput(
            attrs={
                "placeholder": "https://shop.example.com/hooks/genvoris",
                "inputmode": "url",
                "autocomplete": "url",
                "spellcheck": "false",
            }
        ),
        help_text="An https URL on a public address. Genvoris POSTs each event there as JSON.",
    )
    description = forms.CharField(
        max_length=200, required=False, label="Description", help_text="Optional: what receives these, for your team."
    )
    events = forms.MultipleChoiceField(
        choices=[(ALL, "All events"), *((name, name) for name in SUBSCRIBABLE)],
        widget=EventCheckboxes,
        initial=[ALL],
        label="Events",
        error_messages={"required": "Choose at least one event type, or all events."},
    )

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> "WebhookEndpointForm":
        return cls(initial={"url": endpoint.url, "description": endpoint.description, "events": endpoint.events})

    def event_groups(self) -> list[EventGroup]:
        """The event checkboxes, grouped for the template: the current names, then the older ones."""
        boxes = {box.data["value"]: box for box in self["events"]}
        return [
            EventGroup("Current event types", "", [(boxes[name], about) for name, about in EVENT_TYPES.items()]),
            EventGroup(
                "Older names",
                "For integrations written against the first API; each fires on its own trigger.",
                [(boxes[name], about) for name, about in LEGACY_EVENT_TYPES.items()],
            ),
        ]

    def all_events_box(self) -> BoundWidget:
        return next(box for box in self["events"] if box.data["value"] == ALL)


STATUS_LABELS = {
    WebhookDelivery.Status.PENDING: "Pending",
    WebhookDelivery.Status.SUCCEEDED: "Succeeded",
    WebhookDelivery.Status.FAILED: "Failed, retrying",
    WebhookDelivery.Status.DEAD: "Dead",
}


class DeliveryFilterForm(forms.Form):
    """The delivery log's filters; a value that is not a choice is ignored, and said so."""

    event_type = forms.ChoiceField(
        choices=[
            ("", "All event types"),
            ("Current", [*((name, name) for name in EVENT_TYPES), (TEST, TEST)]),
            ("Older names", [(name, name) for name in LEGACY_EVENT_TYPES]),
        ],
        required=False,
        label="Event type",
    )
    status = forms.ChoiceField(choices=[("", "All statuses"), *STATUS_LABELS.items()], required=False, label="Status")

    def filters(self) -> dict[str, str]:
        """The valid filters, as deliveries_of takes them; a field with an error is left out."""
        if not self.is_bound:
            return {}
        self.is_valid()
        data = self.cleaned_data
        return {
            "event_type": data.get("event_type") or "",
            "status": data.get("status") or "",
        }

    @property
    def active(self) -> bool:
        return any(self.filters().values())
