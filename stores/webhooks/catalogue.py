"""The event types an endpoint can subscribe to (SPEC §7), with the names older integrations use."""

ALL = "*"
TEST = "webhook.test"

# Type → what makes it fire, as the portal explains it.
EVENT_TYPES: dict[str, str] = {
    "tryon.completed": "A try-on was debited: one store credit, and one of the shopper's try-ons when a token was sent.",
    "tryon.failed": "The widget reported a try-on that failed; nothing was debited.",
    "customer.quota_exhausted": (
        "A shopper used the last try-on of their period, or a try-on was refused because none were left."
    ),
    "customer.plan_changed": "A shopper was moved to another plan, or off their plan.",
    "end_customer.quota_warning": "A shopper reached 80 % of their period's try-ons (once per period).",
    "end_customer.period_rolled": "A shopper's usage period began anew: it ended, was reset, or their plan changed.",
    "credit.low_balance": "The store's credit balance fell below its low-balance threshold.",
    "credit.balance_added": "Credits were added to the store (every top-up).",
}

# The names integrations written against the first API subscribe to; each fires on its own trigger.
LEGACY_EVENT_TYPES: dict[str, str] = {
    "end_customer.created": "A shopper was created.",
    "end_customer.updated": "A shopper's email, plan, status or metadata changed.",
    "end_customer.cancelled": "A shopper was cancelled.",
    "end_customer.quota_exhausted": "Same trigger as customer.quota_exhausted, under its older name.",
    "plan.created": "A plan was created.",
    "plan.updated": "A plan's name, quota, price id or status changed.",
    "plan.disabled": "A plan was disabled.",
}

SUBSCRIBABLE = {**EVENT_TYPES, **LEGACY_EVENT_TYPES}


def subscribes(events: list[str], event_type: str) -> bool:
    """Whether a subscription list (an endpoint's, or a store's union of them) takes `event_type`."""
    return event_type in events or (ALL in events and event_type in SUBSCRIBABLE)


def subscribes_any(events: list[str], *event_types: str) -> bool:
    return any(subscribes(events, t) for t in event_types)
