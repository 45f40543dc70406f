"""Merchant portal pages of this app, mounted under /portal/<store_id>/ by genvoris/urls.py."""

from django.urls import path

from stores import views

urlpatterns = [
    path("keys", views.keys, name="portal-keys"),
    path("keys/create", views.key_create, name="portal-key-create"),
    path("keys/<public_id:key_id>/revoke", views.key_revoke, name="portal-key-revoke"),
    path("credits", views.credits, name="portal-credits"),
]
