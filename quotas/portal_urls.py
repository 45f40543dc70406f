"""Merchant portal pages of this app, mounted under /portal/<store_id>/ by genvoris/urls.py."""

from django.urls import path

from quotas import views

urlpatterns = [
    path("plans", views.plans, name="portal-plans"),
    path("plans/<public_id:plan_id>", views.plan_edit, name="portal-plan-edit"),
    path("plans/<public_id:plan_id>/disable", views.plan_disable, name="portal-plan-disable"),
    path("plans/<public_id:plan_id>/enable", views.plan_enable, name="portal-plan-enable"),
    path("customers/<public_id:customer_id>/pause", views.customer_pause, name="portal-customer-pause"),
    path("customers/<public_id:customer_id>/resume", views.customer_resume, name="portal-customer-resume"),
    path("customers/<public_id:customer_id>/plan", views.customer_plan, name="portal-customer-plan"),
    path("customers/<public_id:customer_id>/reset", views.customer_reset, name="portal-customer-reset"),
]
