"""Merchant portal pages of this app, mounted under /portal/<store_id>/ by genvoris/urls.py."""

from django.urls import path

from tryon import analytics_views, integration, views

urlpatterns = [
    path("", views.overview, name="portal-overview"),
    path("events", views.events, name="portal-events"),
    path("events.csv", views.events_csv, name="portal-events-csv"),
    path("products", views.products, name="portal-products"),
    path("customers", views.customers, name="portal-customers"),
    path("customers/<public_id:customer_id>", views.customer, name="portal-customer"),
    path("integration", integration.integration, name="portal-integration"),
    path("integration/test", integration.integration_test, name="portal-integration-test"),
    path("analytics", analytics_views.analytics, name="portal-analytics"),
    path("analytics.csv", analytics_views.analytics_csv, name="portal-analytics-csv"),
]
