from typing import Any

import factory

from quotas.models import EndCustomer, Plan
from quotas.services import end_customer_create
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
        return end_customer_create(**kwargs)
