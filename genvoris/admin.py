"""The support console's frame (SPEC §10): site titles and the pieces every app's admin shares.

The admin never writes on its own: save_model and actions call services, so the ledger and the
audit trail record the staff user as the actor, exactly as they record a command or an API key.
"""

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.db import DataError, transaction
from django.db.models import Model, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.timesince import timesince

from genvoris.errors import ApiError
from genvoris.formatting import price
from genvoris.forms import refuse_long_usernames
from genvoris.ids import storable

admin.site.site_header = "Genvoris support"
admin.site.site_title = "Genvoris support"
admin.site.index_title = "Support console"
# The changelists are wide (a store's id, owner, balance, last try-on): they need the room more
# than a second copy of the index needs to be on every page.
admin.site.enable_nav_sidebar = False


class StaffLoginForm(AdminAuthenticationForm):
    """The admin's sign-in, refusing what the portal's refuses (genvoris.forms)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        refuse_long_usernames(self)


admin.site.login_form = StaffLoginForm

# How many rows a history inline shows on a change page; the full list is one link away.
RECENT_ROWS = 20


def status_badge(status: str, label: str) -> str:
    """A coloured pill for a state (`active`, `PAUSED`, `credit_limit_reached`…), styled in admin.css."""
    return format_html('<span class="gv-badge gv-badge-{}">{}</span>', status.lower().replace("_", "-"), label)


@admin.display(description="Store", ordering="store__name")
def store_column(obj: Any) -> str:
    """The store's name alone (its __str__ adds the id): lists of a store's rows are wide enough."""
    return str(obj.store.name)


@admin.display(description="Price per credit", ordering="price_per_credit")
def price_column(obj: Any) -> str:
    """The pack's price as the portal writes it ("$0.08", "Free"), not the stored "0.0800"."""
    return price(obj.price_per_credit)


def time_ago(moment: datetime | None, empty: str = "never") -> str:
    """Relative ("3 hours ago"), with the exact time on hover: narrow enough for a list column."""
    if moment is None:
        return empty
    return format_html(
        '<time datetime="{}" title="{}">{} ago</time>', moment.isoformat(), moment, timesince(moment, depth=1)
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    """A model that only services write (ledger, audit, events): support staff look, never touch."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class NewestFormSet(BaseInlineFormSet):
    """An inline of the newest RECENT_ROWS rows: a store's whole history would make its page slow."""

    def get_queryset(self) -> QuerySet[Any]:
        if not hasattr(self, "_newest"):
            self._newest = super().get_queryset()[:RECENT_ROWS]
        return self._newest


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    formset = NewestFormSet
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def add_service_errors(form: forms.BaseForm, error: ApiError, aliases: Mapping[str, str] | None = None) -> None:
    """Show a service's refusal on the form: its fieldErrors on the fields they name (API names
    such as `monthlyTryOns` mapped through `aliases`), anything else above the form."""
    field_errors: dict[str, list[str]] = error.extra.get("fieldErrors") or {}
    if not field_errors:
        form.add_error(None, error.message)
    for field, messages in field_errors.items():
        name = (aliases or {}).get(field, field)
        form.add_error(name if name in form.fields else None, messages)


def action_form_page(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    objects: Iterable[Model],
    form: forms.Form,
    action: str,
    title: str,
    intro: str,
    submit: str,
    columns: list[tuple[str, Callable[[Any], Any]]],
    danger: bool = False,
) -> TemplateResponse:
    """The intermediate page of an action that needs input (a reason, an amount).

    It posts back to the changelist with the action and the selection, plus `apply`, which tells
    the action that the form was filled in rather than the action just chosen.
    """
    objects = list(objects)
    rows = [[cell(obj) for _, cell in columns] for obj in objects]
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": title,
        "intro": intro,
        "submit": submit,
        "danger": danger,
        "form": form,
        "action": action,
        "objects": objects,
        "headers": [label for label, _ in columns],
        "rows": zip(objects, rows, strict=True),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "return_to": request.POST.get("_return_to", ""),
    }
    return TemplateResponse(request, "admin/action_form.html", context)


# --- what a changelist's query string may hold ---------------------------------------------------

# A regular expression is compiled by the database (PostgreSQL: an error; SQLite: an error in
# Django's Python REGEXP function, which looks like the database failing), so the admin takes none.
REFUSED_LOOKUPS = ("__regex", "__iregex")


class GuardedChangeList(ChangeList):
    """A changelist whose query string cannot fail the page.

    Django already turns a lookup it cannot build into IncorrectLookupParameters (a redirect to
    the unfiltered list, `?e=1`); this one does the same with what Django lets through: values
    holding NUL, dates whose bounds overflow (`created_at__year=9999`: the year after is not a
    date), and values only the database refuses (an integer past 64 bits, a malformed address).
    """

    def get_filters_params(self, params: Any = None) -> Any:
        lookup_params = super().get_filters_params(params)
        for key, values in lookup_params.items():
            if key.endswith(REFUSED_LOOKUPS) or not all(map(storable, [key, *values])):
                raise IncorrectLookupParameters(f"Filtering by {key!r} with these values is not possible.")
        return lookup_params

    def get_filters(self, request: HttpRequest) -> Any:
        try:
            return super().get_filters(request)
        except (ValueError, OverflowError) as error:
            raise IncorrectLookupParameters(error) from error

    def get_results(self, request: HttpRequest) -> None:
        # A savepoint, so that a statement PostgreSQL refused leaves the transaction usable.
        try:
            with transaction.atomic():
                super().get_results(request)
        except (DataError, ValueError, OverflowError) as error:
            raise IncorrectLookupParameters(error) from error


class GuardedQueries:
    """Mixed into every registered ModelAdmin by guard_changelists."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return GuardedChangeList

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        # The changelist's search form refuses NUL itself; the autocomplete view passes it on.
        if not storable(search_term):
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)  # type: ignore[misc]


def guard_changelists(site: admin.AdminSite) -> None:
    """Give every ModelAdmin of the site, this project's and its libraries' (auth, axes), the
    guarded queries: one place, so no app's admin can forget them."""
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, GuardedQueries):
            continue
        guarded = type(type(model_admin).__name__, (GuardedQueries, type(model_admin)), {})
        site.unregister(model)
        site.register(model, guarded)
