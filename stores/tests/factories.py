from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth import get_user_model

from stores.models import ApiKey, AuditEntry, Store
from stores.services import COMMAND, api_key_create, credit_topup


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.SelfAttribute("username")
    password = factory.django.Password("correct horse battery staple")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    name = factory.Sequence(lambda n: f"Store {n}")


class ApiKeyFactory(factory.Factory):
    """Goes through the service, like every key; the plaintext is kept on `.plaintext` for tests."""

    class Meta:
        model = ApiKey

    store = factory.SubFactory(StoreFactory)
    kind = ApiKey.Kind.SECRET
    label = "test key"
    allowed_domains: list[str] = []

    @classmethod
    def _create(cls, model_class: type[ApiKey], *args: Any, **kwargs: Any) -> ApiKey:
        key, plaintext = api_key_create(**kwargs)
        # A fixture is the world as a test finds it: its trail starts empty, so tests read the
        # entries of what they do (the creation entry itself is tested in test_audit_portal.py).
        AuditEntry.objects.filter(action=AuditEntry.Action.API_KEY_CREATED, target=key.public_id).delete()
        key.plaintext = plaintext  # type: ignore[attr-defined]
        return key


def give_credits(store: Store, credits: int, valid_days: int = 365) -> None:
    credit_topup(store=store, credits=credits, actor=COMMAND, price_per_credit=Decimal("0.05"), valid_days=valid_days)
    store.refresh_from_db(fields=["credit_balance"])
