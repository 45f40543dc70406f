"""Merchant portal pages of this app, mounted under /portal/<store_id>/ by genvoris/urls.py."""

from django.urls import path

from quotas import views

urlpatterns = [
    path("plans", views.plans, name="portal-plans"),
    path("plans/<public_id:plan_id>", views.plan_edit, name="portal-plan-edit"),
    path("plans/<public_id:plan_id>/disable", views.plan_disable, name="portal-plan-disable"),
    path("plans/<public_id:plan_id>/enable", views.plan_enable, name="portal-plan-enable"),
]
