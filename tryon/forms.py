from dataclasses import astuple
from datetime import date, timedelta
from typing import Any

from django import forms

from quotas.models import EndCustomer
from stores.models import ButtonDesign
from tryon.models import TryOnEvent
from tryon.selectors import BLOCKED, EventFilters

Outcome = TryOnEvent.Outcome


class EventFilterForm(forms.Form):
    """The events page's filters, also applied to its CSV export."""

    outcome = forms.ChoiceField(
        choices=[
            ("", "All outcomes"),
            (Outcome.DEBITED, "Successful (debited)"),
            (Outcome.FAILED, "Failed"),
            (BLOCKED, "Blocked (any reason)"),
            (Outcome.CREDIT_LIMIT_REACHED, "Blocked: out of credits"),
            (Outcome.END_CUSTOMER_QUOTA, "Blocked: customer quota"),
        ],
        required=False,
    )
    product_type = forms.ChoiceField(
        choices=[("", "All types"), *TryOnEvent.ProductType.choices], required=False, label="Product type"
    )
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(
        required=False,
        max_length=100,
        label="Product title",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Search titles"}),
    )
    customer = forms.CharField(
        required=False,
        max_length=200,
        label="Customer",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "External id"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "Must be on or after the start date.")
        return data

    def filters(self) -> EventFilters:
        """The valid filters; a field with an error is left out (and shown) rather than failing the page."""
        if not self.is_bound or (not self.is_valid() and not hasattr(self, "cleaned_data")):
            return EventFilters()
        data = self.cleaned_data
        return EventFilters(
            outcome=data.get("outcome") or "",
            product_type=data.get("product_type") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            q=(data.get("q") or "").strip(),
            customer=(data.get("customer") or "").strip(),
        )

    @property
    def active(self) -> bool:
        return any(astuple(self.filters()))


class DateRangeForm(forms.Form):
    """The Analytics page's range: the events filter's two date fields, with the same check, and a
    cap on the width so that no request reads more than a year of days. Empty means the last
    `default_days` days, today included."""

    date_from = EventFilterForm.base_fields["date_from"]
    date_to = EventFilterForm.base_fields["date_to"]
    max_days = 366
    default_days = 30

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "Must be on or after the start date.")
        elif start and end and (end - start).days >= self.max_days:
            self.add_error("date_to", f"Choose at most {self.max_days} days.")
        return data

    def range(self, today: date) -> tuple[date, date]:
        """(start, end), both included. A missing end is today (or the start, if that is later); a
        missing start is `default_days` before the end; a range with an error is the default one
        (the page shows the error). Never wider than `max_days`, and safe at the calendar's ends."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        start, end = data.get("date_from"), data.get("date_to")
        if start is None:
            end = end or today
            start = _shift(end, -(self.default_days - 1))
        elif end is None:
            end = max(start, min(today, _shift(start, self.max_days - 1)))
        return start, end

    @property
    def active(self) -> bool:
        return self.is_bound and any(self.data.get(name) for name in ("date_from", "date_to"))


def _shift(day: date, days: int) -> date:
    """The day `days` later (or earlier), stopping at the first and last days Python holds."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


class CustomerFilterForm(forms.Form):
    """The customers page's filters. A value that is not valid (an unknown status, a NUL, which
    PostgreSQL refuses in a query) filters nothing, as it would if left out."""

    status = forms.ChoiceField(choices=[("", "All statuses"), *EndCustomer.Status.choices], required=False)
    q = forms.CharField(required=False)

    def value(self, name: str) -> str:
        self.is_valid()
        return str(self.cleaned_data.get(name) or "")  # a field with an error is not in cleaned_data


def _design_number(name: str, label: str) -> forms.IntegerField:
    """A size in pixels, refused with the service's words (stores.services.button_design_clean)."""
    low, high = ButtonDesign.RANGES[name]
    message = f"Must be a whole number from {low} to {high}."
    return forms.IntegerField(
        min_value=low,
        max_value=high,
        label=label,
        error_messages={key: message for key in ("required", "invalid", "min_value", "max_value", "step_size")},
    )


class ButtonDesignForm(forms.Form):
    """The Integration page's button designer. The field names are the design's published names
    (SPEC §17), so the service's field errors land on them; stores.services.button_design_update
    has the last word on every value, as it has for the API."""

    label = forms.CharField(
        max_length=ButtonDesign.LABEL_MAX,
        label="Label",
        help_text=f"1 to {ButtonDesign.LABEL_MAX} characters.",
        error_messages={
            key: f"Must be 1 to {ButtonDesign.LABEL_MAX} characters." for key in ("required", "max_length")
        },
    )
    icon = forms.ChoiceField(
        choices=[
            (ButtonDesign.Icon.NONE, "No icon"),
            (ButtonDesign.Icon.SPARKLES, "Sparkles"),
            (ButtonDesign.Icon.CAMERA, "Camera"),
            (ButtonDesign.Icon.SHIRT, "Shirt"),
            (ButtonDesign.Icon.EYE, "Eye"),
            (ButtonDesign.Icon.WAND, "Magic wand"),
        ],
        widget=forms.RadioSelect,
        label="Icon",
    )
    borderRadius = _design_number("borderRadius", "Corner radius (px)")
    fontSize = _design_number("fontSize", "Text size (px)")
    paddingX = _design_number("paddingX", "Padding left and right (px)")
    paddingY = _design_number("paddingY", "Padding top and bottom (px)")
    position = forms.ChoiceField(
        choices=[
            (ButtonDesign.Position.INLINE, "Inline: only the buttons on your pages"),
            (ButtonDesign.Position.FLOATING_RIGHT, "Floating button, bottom right"),
            (ButtonDesign.Position.FLOATING_LEFT, "Floating button, bottom left"),
        ],
        widget=forms.RadioSelect,
        label="Position",
    )
    showOnCards = forms.BooleanField(
        required=False,
        label="Show on product cards",
        help_text="For the Shopify and WordPress plugins, which add a button to each product card.",
    )
