from dataclasses import astuple
from typing import Any

from django import forms

from quotas.models import EndCustomer
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
        )

    @property
    def active(self) -> bool:
        return any(astuple(self.filters()))


class CustomerFilterForm(forms.Form):
    """The customers page's filters. A value that is not valid (an unknown status, a NUL, which
    PostgreSQL refuses in a query) filters nothing, as it would if left out."""

    status = forms.ChoiceField(choices=[("", "All statuses"), *EndCustomer.Status.choices], required=False)
    q = forms.CharField(required=False)

    def value(self, name: str) -> str:
        self.is_valid()
        return str(self.cleaned_data.get(name) or "")  # a field with an error is not in cleaned_data
