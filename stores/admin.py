"""Support staff's console for stores, their keys and their credits (SPEC §10).

Suspending, reactivating and topping up go through the same services as the manage.py commands,
with the staff user as the actor. The balance is never a form field anywhere: it moves only
through the services that also write the ledger.
"""

import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from genvoris.admin import (
    RECENT_ROWS,
    ReadOnlyAdmin,
    ReadOnlyInline,
    action_form_page,
    add_service_errors,
    price_column,
    status_badge,
    store_column,
)
from genvoris.errors import ApiError
from genvoris.formatting import price
from stores.models import PACK_VALIDITY_DAYS, ApiKey, AuditEntry, CreditLedgerEntry, CreditPack, Membership, Store
from stores.services import (
    MAX_TOPUP_CREDITS,
    Actor,
    AdjustmentAlreadyApplied,
    TopUpAlreadyApplied,
    api_key_disable,
    api_key_enable,
    api_key_relabel,
    credit_adjust,
    credit_topup,
    store_reactivate,
    store_suspend,
    store_update,
)

STORE_COLUMNS: list[tuple[str, Callable[[Store], Any]]] = [
    ("Store", lambda store: store.name),
    ("Id", lambda store: store.public_id),
    ("Status", lambda store: status_badge(store.status, store.get_status_display())),
    ("Balance", lambda store: f"{store.credit_balance:,}"),
]


def changelist_link(model: type[Model], label: str, **filters: Any) -> str:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    return format_html('<a href="{}?{}">{}</a>', url, query, label)


def audit_summary(entry: AuditEntry) -> str:
    """One line a support agent can read: what changed, from what to what."""
    d, action = entry.detail, AuditEntry.Action
    match entry.action:
        case action.STORE_SUSPENDED:
            # Entries from before issue 13 have a `reason` (the note) and no message.
            note, message = d.get("note", d.get("reason", "")), d.get("message", "")
            return f"Note: {note}" + (f" — told the merchant: {message}" if message else "")
        case action.STORE_REACTIVATED:
            was = d.get("previous_note", d.get("previous_reason", ""))
            return f"{d.get('reason', '')}" + (f" (was suspended for: {was})" if was else "")
        case action.STORE_UPDATED:
            return "; ".join(f"{field.replace('_', ' ')}: {old} → {new}" for field, (old, new) in d.items())
        case action.CREDITS_ADJUSTED:
            return f"{d['delta']:+,} credits, balance {d['before']:,} → {d['after']:,}: {d['reason']}"
        case action.CREDITS_TOPPED_UP:
            note = f" — {d['note']}" if d.get("note") else ""
            return (
                f"+{d['credits']:,} credits at {price(d['price_per_credit'])} each, valid {d['valid_days']} days; "
                f"balance {d['balance_after']:,}{note}"
            )
        case action.PLAN_CREATED:
            return f"{d['name']}: {d['monthly_try_ons']:,} try-ons a period"
        case action.PLAN_UPDATED:
            return "; ".join(f"{field.replace('_', ' ')}: {old} → {new}" for field, (old, new) in d.items())
        case action.CUSTOMER_STATUS_CHANGED | action.CUSTOMER_PLAN_CHANGED:
            return f"{d['external_id']}: {d['old'] or 'no plan'} → {d['new'] or 'no plan'}"
        case action.CUSTOMER_PERIOD_RESET:
            return f"{d['external_id']}: new period from {d['period_start'][:16].replace('T', ' ')}"
    return ", ".join(f"{key}: {value}" for key, value in d.items())


# --- forms of the intermediate pages ------------------------------------------------------------


class SuspendForm(forms.Form):
    note = forms.CharField(
        label="Internal note",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="For support colleagues only, kept in the audit trail; the merchant never sees it.",
    )
    message = forms.CharField(
        label="Message to the merchant",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Shown to the merchant in the portal's banner and in the detail of the 403 "
        "account_inactive their try-ons and API calls get until the store is reactivated.",
    )


class ReactivateForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why the store may trade again; kept in the audit trail, which the merchant reads too.",
    )


def new_form_token() -> str:
    return secrets.token_urlsafe(24)


def form_token_field(opens: str) -> forms.RegexField:
    """A one-time token, new each time the form is shown and kept while it is corrected: what the
    form writes claims it, so submitting it twice (a double click, a reload, two tabs) applies once."""
    incomplete = f"This form is incomplete: open {opens} again."
    return forms.RegexField(
        regex=r"\A[A-Za-z0-9_-]{32}\Z",
        widget=forms.HiddenInput,
        initial=new_form_token,
        error_messages={"required": incomplete, "invalid": incomplete},
    )


class AdjustForm(forms.Form):
    token = form_token_field("Adjust credits")
    delta = forms.IntegerField(
        label="Credits",
        help_text="Positive to add, negative to take away (never below a balance of 0). Added credits "
        f"are a pack valid {PACK_VALIDITY_DAYS} days; taken ones come out of the packs that expire first.",
    )
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why: kept in the ledger and the audit trail, both shown to the merchant.",
    )


class TopUpForm(forms.Form):
    """Only types are checked here; the ranges are credit_topup's, shown on the fields it names."""

    # The packs it makes claim the token: submitting this form twice tops up once.
    token = form_token_field("Top up credits")
    credits = forms.IntegerField(help_text=f"Whole credits, 1 to {MAX_TOPUP_CREDITS:,}.")
    price_per_credit = forms.DecimalField(
        initial=Decimal("0"), help_text="What the merchant pays per credit, up to 4 decimals (0 for a gift)."
    )
    valid_days = forms.IntegerField(
        label="Valid for (days)", initial=PACK_VALIDITY_DAYS, help_text="The pack expires this many days from now."
    )
    note = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why: an invoice number, a goodwill gesture… Kept in the ledger.",
    )


# --- inlines --------------------------------------------------------------------------------------


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["label", "active"]
        labels = {"active": "Usable"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.revoked_at is not None:
            self.fields["active"].disabled = True  # revocation is final (SPEC §19)
        # A tabular inline heads its columns with <th>, which labels no input: each input says which
        # key's field it is, for screen readers and axe's `label` rule (issue 15).
        key = f"key {self.instance.prefix}" if self.instance.pk else "new key"
        for field in self.fields.values():
            field.widget.attrs["aria-label"] = f"{field.label} of {key}"


class ApiKeyInline(admin.TabularInline):
    """Keys are created by merchants (the plaintext is shown to them once); support can only relabel,
    revoke or re-enable one. The hash is never displayed."""

    model = ApiKey
    form = ApiKeyForm
    extra = 0
    can_delete = False
    fields = ["prefix_display", "kind", "label", "domains", "active", "state", "last_used_at", "created_at"]
    readonly_fields = ["prefix_display", "kind", "domains", "state", "last_used_at", "created_at"]
    ordering = ["-created_at"]
    verbose_name = "API key"
    verbose_name_plural = (
        "API keys (untick Usable to disable a key, tick it to re-enable; a key the merchant revoked stays revoked)"
    )

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.display(description="Key")
    def prefix_display(self, key: ApiKey) -> str:
        return format_html("<code>{}…</code>", key.prefix)

    @admin.display(description="Allowed domains")
    def domains(self, key: ApiKey) -> str:
        return ", ".join(key.allowed_domains) or "any"

    @admin.display(description="State")
    def state(self, key: ApiKey) -> str:
        if key.revoked_at is not None:
            return status_badge("cancelled", "revoked")
        if not key.active:
            return status_badge("paused", "disabled by support")
        return status_badge("active", "usable")


class CreditPackInline(ReadOnlyInline):
    model = CreditPack
    fields = readonly_fields = (
        "public_id",
        "credits",
        "remaining",
        "price",
        "purchased_at",
        "expires_at",
        "source",
        "note",
    )
    ordering = ["-purchased_at"]
    verbose_name_plural = f"Credit packs (newest {RECENT_ROWS})"

    @admin.display(description="Price per credit")
    def price(self, pack: CreditPack) -> str:
        return price_column(pack)


class LedgerInline(ReadOnlyInline):
    model = CreditLedgerEntry
    fields = readonly_fields = ("created_at", "kind", "delta", "balance_after", "actor", "reason")
    ordering = ["-created_at", "-id"]
    verbose_name_plural = f"Credit ledger (newest {RECENT_ROWS})"


class AuditInline(ReadOnlyInline):
    model = AuditEntry
    fields = readonly_fields = ("created_at", "action", "target", "actor", "summary")
    ordering = ["-created_at", "-id"]
    verbose_name_plural = f"Audit trail (newest {RECENT_ROWS})"

    @admin.display(description="Detail")
    def summary(self, entry: AuditEntry) -> str:
        return audit_summary(entry)


# --- stores ----------------------------------------------------------------------------------------


class StoreForm(forms.ModelForm):
    # Only settings are fields: status moves through the actions, the balance through top-ups.
    class Meta:
        model = Store
        fields = ["name", "low_balance_threshold"]


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    form = StoreForm
    list_display = ["name", "public_id", "status_display", "balance", "owner", "created"]
    list_display_links = ["name", "public_id"]
    list_filter = ["status"]
    search_fields = ["name", "public_id", "memberships__user__email"]
    search_help_text = "Search by store name, store id (st_…) or owner email."
    ordering = ["-created_at"]
    actions = ["suspend_stores", "reactivate_stores", "top_up_credits", "adjust_credits"]
    readonly_fields = [
        "public_id",
        "owners",
        "created_at",
        "status_display",
        "suspended_note",
        "suspended_message",
        "suspended_at",
        "balance",
        "history",
    ]
    fieldsets = [
        (None, {"fields": ["name", "public_id", "owners", "created_at"]}),
        ("Status", {"fields": ["status_display", "suspended_note", "suspended_message", "suspended_at"]}),
        ("Credits", {"fields": ["balance", "low_balance_threshold", "history"]}),
    ]
    inlines = [ApiKeyInline, CreditPackInline, LedgerInline, AuditInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Store]:
        return super().get_queryset(request).prefetch_related("memberships__user")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # stores are created with `manage.py create_store`, which also creates the owner

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # suspend instead: a store's packs, ledger and events are kept

    # --- columns

    @admin.display(description="Status", ordering="status")
    def status_display(self, store: Store) -> str:
        return status_badge(store.status, store.get_status_display())

    @admin.display(description="Balance", ordering="credit_balance")
    def balance(self, store: Store) -> str:
        low = store.credit_balance < store.low_balance_threshold
        return format_html('<span class="gv-number{}">{}</span>', " gv-low" if low else "", f"{store.credit_balance:,}")

    @admin.display(description="Created", ordering="created_at")
    def created(self, store: Store) -> str:
        return f"{store.created_at:%Y-%m-%d}"

    @admin.display(description="Owner")
    def owner(self, store: Store) -> str:
        # From the prefetch: filtering the related manager here would query once per row.
        return ", ".join(m.user.email for m in store.memberships.all() if m.role == Membership.Role.OWNER)

    @admin.display(description="Owners")
    def owners(self, store: Store) -> str:
        return self.owner(store) or "—"

    @admin.display(description="History")
    def history(self, store: Store) -> str:
        links = [
            changelist_link(CreditPack, "all credit packs", store__id__exact=store.pk),
            changelist_link(CreditLedgerEntry, "the whole ledger", store__id__exact=store.pk),
            changelist_link(AuditEntry, "the whole audit trail", store__id__exact=store.pk),
        ]
        return format_html_join(" · ", "{}", ((link,) for link in links))

    # --- saving: through services

    def save_model(self, request: HttpRequest, obj: Store, form: forms.ModelForm, change: bool) -> None:
        # Django logs the change in "Recent actions" after this; the service writes the audit entry.
        store_update(store=obj, name=obj.name, low_balance_threshold=obj.low_balance_threshold, actor=_staff(request))

    def save_formset(
        self, request: HttpRequest, form: forms.ModelForm, formset: BaseInlineFormSet, change: bool
    ) -> None:
        if formset.model is not ApiKey:
            super().save_formset(request, form, formset, change)  # read-only inlines: nothing to save
            return
        formset.save(commit=False)  # fills changed_objects (and the change message) without writing
        for key, changed in formset.changed_objects:
            actor = _staff(request)
            if "label" in changed:
                api_key_relabel(key=key, label=key.label, actor=actor)
            if "active" in changed:
                # Unticking disables (support can undo it); only the merchant revokes, for good.
                # The reason is in the merchant's trail: it says support did it, not which colleague
                # (the entry's actor keeps that for staff).
                reason = "Changed by Genvoris support in the admin"
                (api_key_enable if key.active else api_key_disable)(key=key, reason=reason, actor=actor)

    # --- actions

    @admin.action(description="Suspend selected stores…", permissions=["change"])
    def suspend_stores(self, request: HttpRequest, queryset: QuerySet[Store]) -> HttpResponse | None:
        stores = list(queryset)
        active = [store for store in stores if store.is_active]
        if not active:
            self.message_user(request, "The selected stores are already suspended.", messages.WARNING)
            return self._done(request, stores)
        form = SuspendForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return action_form_page(
                self,
                request,
                objects=active,
                form=form,
                action="suspend_stores",
                title="Suspend stores",
                intro="Suspended stores cannot track try-ons or call the API until they are reactivated. "
                "Their credits, keys and customers are kept.",
                submit=f"Suspend {_count(active, 'store')}",
                columns=STORE_COLUMNS,
                danger=True,
            )
        data, done = form.cleaned_data, []
        for store in active:
            _, changed = store_suspend(store=store, note=data["note"], message=data["message"], actor=_staff(request))
            if changed:  # a colleague's suspension in between is theirs: neither redone nor logged
                self.log_change(request, store, f"Suspended. Note: {data['note']} — message: {data['message']}")
                done.append(store)
        if done:
            self.message_user(request, f"Suspended {_names(done)}.", messages.SUCCESS)
        if len(done) < len(stores):
            self.message_user(request, f"{_count(stores, 'store', len(stores) - len(done))} already suspended.")
        return self._done(request, stores)

    @admin.action(description="Reactivate selected stores…", permissions=["change"])
    def reactivate_stores(self, request: HttpRequest, queryset: QuerySet[Store]) -> HttpResponse | None:
        stores = list(queryset)
        suspended = [store for store in stores if not store.is_active]
        if not suspended:
            self.message_user(request, "The selected stores are already active.", messages.WARNING)
            return self._done(request, stores)
        form = ReactivateForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return action_form_page(
                self,
                request,
                objects=suspended,
                form=form,
                action="reactivate_stores",
                title="Reactivate stores",
                intro="Reactivated stores can track try-ons and call the API again.",
                submit=f"Reactivate {_count(suspended, 'store')}",
                columns=STORE_COLUMNS,
            )
        reason, done = form.cleaned_data["reason"], []
        for store in suspended:
            _, changed = store_reactivate(store=store, reason=reason, actor=_staff(request))
            if changed:
                self.log_change(request, store, f"Reactivated: {reason}")
                done.append(store)
        if done:
            self.message_user(request, f"Reactivated {_names(done)}.", messages.SUCCESS)
        if len(done) < len(stores):
            self.message_user(request, f"{_count(stores, 'store', len(stores) - len(done))} already active.")
        return self._done(request, stores)

    @admin.action(description="Top up credits…", permissions=["change"])
    def top_up_credits(self, request: HttpRequest, queryset: QuerySet[Store]) -> HttpResponse | None:
        stores = list(queryset)
        form = TopUpForm(request.POST if "apply" in request.POST else None)
        if form.is_valid() and self._top_up(request, stores, form):
            return self._done(request, stores)
        return action_form_page(
            self,
            request,
            objects=stores,
            form=form,
            action="top_up_credits",
            title="Top up credits",
            intro="Each selected store gets a new credit pack of this size. Credits are spent oldest-expiry "
            "first; the top-up is recorded in the store's ledger and audit trail under your name.",
            submit=f"Add credits to {_count(stores, 'store')}",
            columns=STORE_COLUMNS,
        )

    @admin.action(description="Adjust credits (+/−)…", permissions=["change"])
    def adjust_credits(self, request: HttpRequest, queryset: QuerySet[Store]) -> HttpResponse | None:
        stores = list(queryset)
        if len(stores) != 1:
            self.message_user(request, "Select one store to adjust its credits.", messages.WARNING)
            return None
        [store] = stores
        form = AdjustForm(request.POST if "apply" in request.POST else None)
        if form.is_valid() and self._adjust(request, store, form):
            return self._done(request, stores)
        return action_form_page(
            self,
            request,
            objects=stores,
            form=form,
            action="adjust_credits",
            title="Adjust credits",
            intro="Add or take away credits outside a sale: a goodwill gesture, a correction. The change is "
            "recorded in the store's ledger and audit trail under your name, with your reason.",
            submit="Adjust the balance",
            columns=STORE_COLUMNS,
        )

    def _adjust(self, request: HttpRequest, store: Store, form: AdjustForm) -> bool:
        data = form.cleaned_data
        try:
            entry, balance = credit_adjust(
                store=store,
                delta=data["delta"],
                reason=data["reason"],
                actor=_staff(request),
                request_token=data["token"],
            )
        except AdjustmentAlreadyApplied as applied:
            first = applied.entry
            self.message_user(
                request,
                f"This adjustment was already applied: {first.delta:+,} credits to {store.name} "
                f"({store.public_id}) at {first.created_at:%Y-%m-%d %H:%M:%S} UTC, balance {first.balance_after:,}. "
                "Nothing was changed again; open Adjust credits anew for another adjustment.",
                messages.WARNING,
            )
            return True
        except ApiError as error:
            add_service_errors(form, error)
            return False
        self.log_change(request, store, f"Adjusted credits by {entry.delta:+,}: {entry.reason}")
        self.message_user(
            request,
            f"Adjusted {store.name} ({store.public_id}) by {entry.delta:+,} credits; balance {balance:,}.",
            messages.SUCCESS,
        )
        return True

    def _top_up(self, request: HttpRequest, stores: list[Store], form: TopUpForm) -> bool:
        """Top up every store, or none: the service checks the input before it writes, and every
        store gets the same input, so a refusal comes from the first call, before anything changed.
        A store this form has topped up already (the form was sent again) is left as it is, saying so."""
        actor = _staff(request)
        data = form.cleaned_data
        for store in stores:
            try:
                pack, balance = credit_topup(
                    store=store,
                    credits=data["credits"],
                    price_per_credit=data["price_per_credit"],
                    valid_days=data["valid_days"],
                    note=data["note"],
                    source=CreditPack.Source.ADMIN,
                    actor=actor,
                    request_token=data["token"],
                )
            except TopUpAlreadyApplied as applied:
                self.message_user(request, _already_applied(store, applied.pack), messages.WARNING)
                continue
            except ApiError as error:
                add_service_errors(form, error)
                return False
            self.log_change(request, store, f"Topped up {pack.credits:,} credits ({pack.public_id})")
            self.message_user(
                request,
                f"Added {pack.credits:,} credits to {store.name} ({store.public_id}); balance {balance:,}.",
                messages.SUCCESS,
            )
        return True

    def _done(self, request: HttpRequest, stores: list[Store]) -> HttpResponseRedirect | None:
        """Back to the store's page when the action was started there, else to the list (None)."""
        if request.POST.get("_return_to") == "change" and len(stores) == 1:
            return HttpResponseRedirect(reverse("admin:stores_store_change", args=[stores[0].pk]))
        return None


def _staff(request: HttpRequest) -> Actor:
    return Actor.of_user(request.user)  # type: ignore[arg-type]


def _already_applied(store: Store, pack: CreditPack) -> str:
    return (
        f"This top-up was already applied: {pack.credits:,} credits were added to {store.name} "
        f"({store.public_id}) as {pack.public_id} at {pack.purchased_at:%Y-%m-%d %H:%M:%S} UTC. "
        "Nothing was added again; open Top up credits anew for another pack."
    )


def _count(items: list[Any], noun: str, n: int | None = None) -> str:
    n = len(items) if n is None else n
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _names(stores: list[Store]) -> str:
    if len(stores) > 3:
        return _count(stores, "store")
    return ", ".join(f"{store.name} ({store.public_id})" for store in stores)


# --- the books and the trail: read-only ----------------------------------------------------------


@admin.register(CreditPack)
class CreditPackAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        store_column,
        "credits",
        "remaining",
        price_column,
        "purchased_at",
        "expires_at",
        "state",
        "source",
    ]
    list_filter = ["source", ("expired_at", admin.EmptyFieldListFilter)]
    list_select_related = ["store"]
    search_fields = ["=public_id", "store__name", "=store__public_id", "note"]
    ordering = ["-purchased_at"]

    @admin.display(description="State")
    def state(self, pack: CreditPack) -> str:
        if pack.expired_at:
            return status_badge("cancelled", "expired")
        if pack.remaining == 0:
            return status_badge("paused", "spent")
        return status_badge("active", "live")


@admin.register(CreditLedgerEntry)
class CreditLedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", store_column, "kind", "signed_delta", "balance_after", "actor", "reason", "pack"]
    list_filter = ["kind"]
    list_select_related = ["store", "pack"]
    search_fields = ["store__name", "=store__public_id", "actor", "reason"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]

    @admin.display(description="Delta", ordering="delta")
    def signed_delta(self, entry: CreditLedgerEntry) -> str:
        return format_html('<span class="gv-number">{}</span>', f"{entry.delta:+,}")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", store_column, "target", "actor", "summary"]
    list_display_links = ["created_at", "action"]
    list_filter = ["action", "store"]
    list_select_related = ["store"]
    search_fields = ["=target", "actor", "store__name", "=store__public_id"]
    search_help_text = "Search by object id (st_…, pck_…, pln_…, ec_…), actor or store."
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]

    @admin.display(description="Detail")
    def summary(self, entry: AuditEntry) -> str:
        return audit_summary(entry)
