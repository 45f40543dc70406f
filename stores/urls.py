from django.urls import path

from stores import api as stores_api
from stores.webhooks import api

urlpatterns = [
    path("api/v1/button-design", stores_api.ButtonDesignView.as_view(), name="v1-button-design"),
    path("api/widget/button-design", stores_api.WidgetButtonDesignView.as_view(), name="widget-button-design"),
    path("api/v1/webhooks", api.WebhookListView.as_view(), name="v1-webhooks"),
    path("api/v1/webhooks/<str:endpoint_id>", api.WebhookDetailView.as_view(), name="v1-webhook"),
    path("api/v1/webhooks/<str:endpoint_id>/test", api.WebhookTestView.as_view(), name="v1-webhook-test"),
    path("api/v1/webhooks/<str:endpoint_id>/rotate-secret", api.WebhookRotateView.as_view(), name="v1-webhook-rotate"),
    path(
        "api/v1/webhooks/<str:endpoint_id>/deliveries",
        api.WebhookDeliveryListView.as_view(),
        name="v1-webhook-deliveries",
    ),
    path(
        "api/v1/webhooks/<str:endpoint_id>/deliveries/<str:delivery_id>",
        api.WebhookDeliveryDetailView.as_view(),
        name="v1-webhook-delivery",
    ),
    path(
        "api/v1/webhooks/<str:endpoint_id>/deliveries/<str:delivery_id>/resend",
        api.WebhookDeliveryResendView.as_view(),
        name="v1-webhook-delivery-resend",
    ),
]
