"""Merchant portal pages of this app, mounted under /portal/<store_id>/ by genvoris/urls.py."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
