from typing import Any

import factory

from quotas.models import EndCustomer, Plan
from quotas.services import end_customer_create
from stores.models import AuditEntry
from stores.tests.factories import StoreFactory


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    store = factory.SubFactory(StoreFactory)
    name = factory.Sequence(lambda n: f"Plan {n}")
    monthly_try_ons = 100


class EndCustomerFactory(factory.Factory):
    """Created through the service so the first usage period opens as in production."""

    class Meta:
        model = EndCustomer

    store = factory.SubFactory(StoreFactory)
    external_id = factory.Sequence(lambda n: f"shopper-{n}")
    email = factory.LazyAttribute(lambda o: f"{o.external_id}@example.com")
    plan = factory.SubFactory(PlanFactory, store=factory.SelfAttribute("..store"))

    @classmethod
    def _create(cls, model_class: type[EndCustomer], *args: Any, **kwargs: Any) -> EndCustomer:
        customer = end_customer_create(**kwargs)
        # A fixture is the world as a test finds it: its trail starts empty, so tests read the
        # entries of what they do (the creation entry itself is tested in test_audit_portal.py).
        AuditEntry.objects.filter(action=AuditEntry.Action.CUSTOMER_CREATED, target=customer.public_id).delete()
        return customer
