import factory
from django.utils import timezone

from stores.tests.factories import ApiKeyFactory
from tryon.models import TryOnEvent


class TryOnEventFactory(factory.django.DjangoModelFactory):
    """An event as the track service records it; `outcome` decides `debited` and `success`."""

    class Meta:
        model = TryOnEvent

    api_key = factory.SubFactory(ApiKeyFactory)
    store = factory.SelfAttribute("api_key.store")
    outcome = TryOnEvent.Outcome.DEBITED
    debited = factory.LazyAttribute(lambda o: o.outcome == TryOnEvent.Outcome.DEBITED)
    success = factory.LazyAttribute(lambda o: o.outcome != TryOnEvent.Outcome.FAILED)
    reason = factory.LazyAttribute(
        lambda o: "quota_exhausted" if o.outcome == TryOnEvent.Outcome.END_CUSTOMER_QUOTA else ""
    )
    product_type = TryOnEvent.ProductType.APPAREL
    product_title = "Linen shirt"
    generation_time_ms = 2000
    created_at = factory.LazyFunction(timezone.now)
