import re
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from genvoris.forms import refuse_long_usernames
from stores.models import ApiKey, AuditEntry


class ApiKeyForm(forms.Form):
    label = forms.CharField(
        max_length=80, required=False, label="Label", help_text="What the key is for, e.g. “Try-on backend”."
    )
    kind = forms.ChoiceField(
        choices=[
            (ApiKey.Kind.SECRET, "Secret: for your servers (gvk_live_…)"),
            (ApiKey.Kind.PUBLISHABLE, "Publishable: for the widget in your pages (gvk_pub_…)"),
        ],
        initial=ApiKey.Kind.SECRET,
        widget=forms.RadioSelect,
        label="Kind",
    )
    allowed_domains = forms.CharField(
        required=False,
        label="Allowed domains",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "shop.example.com\n*.example.com"}),
        help_text="One per line. Try-ons from other origins are refused. Leave empty to allow any origin.",
    )

    def clean_allowed_domains(self) -> list[str]:
        return [entry for entry in re.split(r"[\s,]+", self.cleaned_data["allowed_domains"]) if entry]


class LoginForm(AuthenticationForm):
    """Django's sign-in form, worded for merchants (their username is their email)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        refuse_long_usernames(self)
        self.fields["username"].label = "Email"
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "inputmode": "email"})
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})
        self.error_messages["invalid_login"] = "That email and password do not match an account."

    def clean_username(self) -> str:
        # Accounts are created with lower-case emails (stores.services.store_create).
        return str(self.cleaned_data["username"]).strip().lower()


class AuditFilterForm(forms.Form):
    """The audit page's one filter: what kind of change."""

    action = forms.ChoiceField(
        choices=[("", "All changes"), *AuditEntry.Action.choices], required=False, label="Kind of change"
    )

    def action_filter(self) -> str:
        """The chosen action, or "" (all) when none was chosen or the choice is not one of ours."""
        return self.cleaned_data.get("action", "") if self.is_valid() else ""
