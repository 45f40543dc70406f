"""Writing events into the outbox, in the transaction of the change that causes them."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.utils import timezone

from genvoris.db import insert_row
from genvoris.ids import new_id
from stores.webhooks.catalogue import SUBSCRIBABLE, subscribes
from stores.webhooks.models import WebhookEvent


def webhook_emit(
    *,
    store: Any,
    event_type: str,
    data: dict[str, Any] | Callable[[], dict[str, Any]],
    now: datetime | None = None,
    source: str = "",
) -> bool:
    """Record `event_type` for the store if one of its endpoints subscribes to it; True if it did.

    Call it inside the transaction of the change it reports: a change rolled back emits nothing
    and a committed one is never lost. A store nobody listens to pays nothing: `store` carries its
    subscriptions (`Store.webhook_topics`), so there is no query unless an event is written.
    `data` may be a callable, built only when the event is written. The worker makes the
    deliveries (`stores.webhooks.worker`).
    """
    assert event_type in SUBSCRIBABLE, event_type
    if not subscribes(store.webhook_topics or [], event_type):
        return False
    insert_row(
        WebhookEvent,
        {
            "public_id": new_id(WebhookEvent.ID_PREFIX),
            "store_id": store.pk,
            "type": event_type,
            "data": data() if callable(data) else data,
            "source": source,
            "dispatched": False,
            "created_at": now or timezone.now(),
        },
    )
    return True
