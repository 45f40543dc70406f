"""The demo store that `make run` serves: idempotent, with keys that can be printed on every run.

Stored keys are hashes, so the demo keys are derived from SECRET_KEY instead of random: the same
installation always gets the same demo keys, and no two installations share them.
"""

import base64
import hashlib
import hmac
import shlex
from dataclasses import dataclass

from django.conf import settings

from quotas.models import EndCustomer, Plan
from quotas.services import end_customer_create, plan_create
from stores.models import ApiKey, Store
from stores.selectors import api_key_by_plaintext
from stores.services import COMMAND, api_key_ensure, credit_topup, store_create

DEMO_EMAIL = "demo@genvoris.test"
DEMO_PASSWORD = "demo-try-on-2026"
DEMO_STORE = "Demo Boutique"
DEMO_SHOPPER = "demo-shopper"
DEMO_CREDITS = 500


@dataclass(frozen=True)
class Demo:
    store: Store
    secret_key: str
    publishable_key: str
    plan: Plan
    customer: EndCustomer


def demo_key(kind: ApiKey.Kind) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"genvoris-demo-{kind}".encode(), hashlib.sha256).digest()
    return ApiKey.PREFIXES[kind] + base64.urlsafe_b64encode(digest[:24]).decode()


def _demo_store() -> Store | None:
    return Store.objects.filter(name=DEMO_STORE, memberships__user__username=DEMO_EMAIL).first()


def demo_find() -> Demo | None:
    """The demo that `seed_demo` made, or None if it has not run (or its pieces were removed)."""
    store = _demo_store()
    if store is None:
        return None
    plan = store.plans.filter(name="Demo Starter").first()
    customer = store.end_customers.select_related("plan").filter(external_id=DEMO_SHOPPER).first()
    publishable = demo_key(ApiKey.Kind.PUBLISHABLE)
    if plan is None or customer is None or api_key_by_plaintext(publishable) is None:
        return None
    return Demo(
        store=store,
        secret_key=demo_key(ApiKey.Kind.SECRET),
        publishable_key=publishable,
        plan=plan,
        customer=customer,
    )


def demo_seed() -> Demo:
    """Every step finds what an earlier run made before making it, so running twice is safe."""
    store = _demo_store()
    if store is None:
        store = store_create(name=DEMO_STORE, owner_email=DEMO_EMAIL, password=DEMO_PASSWORD)
    secret = demo_key(ApiKey.Kind.SECRET)
    publishable = demo_key(ApiKey.Kind.PUBLISHABLE)
    for kind, label, plaintext in [
        (ApiKey.Kind.SECRET, "Demo server key", secret),
        (ApiKey.Kind.PUBLISHABLE, "Demo widget key", publishable),
    ]:
        key = api_key_ensure(store=store, kind=kind, label=label, plaintext=plaintext)
        if not key.is_usable:  # the printed keys must work, but revocation is final (SPEC §19):
            key.delete()  # re-seeding replaces a revoked demo key with a new row of the same value
            api_key_ensure(store=store, kind=kind, label=label, plaintext=plaintext)
    plan = store.plans.filter(name="Demo Starter").first() or plan_create(
        store=store, name="Demo Starter", monthly_try_ons=3
    )
    if not store.plans.filter(name="Demo Pro").exists():
        plan_create(store=store, name="Demo Pro", monthly_try_ons=100)
    customer = store.end_customers.filter(external_id=DEMO_SHOPPER).first() or end_customer_create(
        store=store, external_id=DEMO_SHOPPER, email="shopper@example.com", plan=plan
    )
    if not store.credit_packs.exists():  # the first seed buys a pack; later ones leave the balance alone
        credit_topup(store=store, credits=DEMO_CREDITS, actor=COMMAND, note="Demo credits")
        store.refresh_from_db(fields=["credit_balance"])
    return Demo(store=store, secret_key=secret, publishable_key=publishable, plan=plan, customer=customer)


def track_curl(base_url: str, api_key: str) -> str:
    body = '{"api_key": "%s", "product_type": "apparel", "product_title": "Black Wrap Dress", "variation_count": 4}'
    secret = settings.TRYON_INTERNAL_SECRET[0] if settings.TRYON_INTERNAL_SECRET else None
    auth = f"-H {shlex.quote('x-internal-secret: ' + secret)}" if secret else f"-H 'Authorization: Bearer {api_key}'"
    return (
        f"curl -sS -X POST {base_url.rstrip('/')}/api/tryon/track -H 'Content-Type: application/json' "
        f"{auth} -d {shlex.quote(body % api_key)}"
    )
