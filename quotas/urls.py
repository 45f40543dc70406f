from django.urls import path

from quotas import api

urlpatterns = [
    path(".well-known/jwks.json", api.JwksView.as_view(), name="jwks"),
    path("api/v1/plans", api.PlanListView.as_view(), name="v1-plans"),
    path("api/v1/plans/<str:plan_id>", api.PlanDetailView.as_view(), name="v1-plan"),
    path("api/v1/customers", api.CustomerListView.as_view(), name="v1-customers"),
    path("api/v1/customers/<str:customer_id>", api.CustomerDetailView.as_view(), name="v1-customer"),
    path("api/v1/customers/<str:customer_id>/usage", api.CustomerUsageView.as_view(), name="v1-customer-usage"),
    path("api/v1/customers/<str:customer_id>/sessions", api.SessionsView.as_view(), name="v1-sessions"),
    path("api/v1/customers/<str:customer_id>/sessions/<str:jti>", api.SessionRevokeView.as_view(), name="v1-session"),
]
