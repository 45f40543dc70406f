"""Merchant portal pages of this app, mounted under /portal/<store_id>/ by genvoris/urls.py."""

from django.urls import path

from stores import team_views, views
from stores.webhooks import views as webhooks

urlpatterns = [
    path("keys", views.keys, name="portal-keys"),
    path("keys/create", views.key_create, name="portal-key-create"),
    path("keys/<public_id:key_id>/revoke", views.key_revoke, name="portal-key-revoke"),
    path("credits", views.credits, name="portal-credits"),
    path("audit", views.audit, name="portal-audit"),
    path("team", team_views.team, name="portal-team"),
    path("team/invite", team_views.member_invite_view, name="portal-team-invite"),
    path("team/<int:membership_id>/role", team_views.member_role_view, name="portal-team-role"),
    path("team/<int:membership_id>/remove", team_views.member_remove_view, name="portal-team-remove"),
    path("webhooks", webhooks.webhooks, name="portal-webhooks"),
    path("webhooks/create", webhooks.webhook_create, name="portal-webhook-create"),
    path("webhooks/<public_id:endpoint_id>", webhooks.webhook_detail, name="portal-webhook"),
    path("webhooks/<public_id:endpoint_id>/edit", webhooks.webhook_edit, name="portal-webhook-edit"),
    path("webhooks/<public_id:endpoint_id>/disable", webhooks.webhook_disable, name="portal-webhook-disable"),
    path("webhooks/<public_id:endpoint_id>/enable", webhooks.webhook_enable, name="portal-webhook-enable"),
    path("webhooks/<public_id:endpoint_id>/delete", webhooks.webhook_delete, name="portal-webhook-delete"),
    path("webhooks/<public_id:endpoint_id>/rotate", webhooks.webhook_rotate, name="portal-webhook-rotate"),
    path("webhooks/<public_id:endpoint_id>/test", webhooks.webhook_test, name="portal-webhook-test"),
    path(
        "webhooks/<public_id:endpoint_id>/deliveries/<public_id:delivery_id>",
        webhooks.delivery_detail,
        name="portal-webhook-delivery",
    ),
    path(
        "webhooks/<public_id:endpoint_id>/deliveries/<public_id:delivery_id>/resend",
        webhooks.delivery_resend,
        name="portal-webhook-delivery-resend",
    ),
]
