from django.urls import path, re_path

from tryon import backend, demo_views, funnel_api, status_api, widget
from tryon.api import TrackView

urlpatterns = [
    path("api/tryon/track", TrackView.as_view(), name="tryon-track"),
    path("api/tryon/generate", backend.generate_view, name="tryon-generate"),
    path("api/tryon/status", status_api.WidgetStatusView.as_view(), name="tryon-status"),
    path("api/v1/status", status_api.StoreStatusView.as_view(), name="v1-status"),
    path("status", status_api.PublicStatusView.as_view(), name="status"),
    path("api/v1/events", funnel_api.EventsView.as_view(), name="v1-events"),
    path("api/tryon/events", funnel_api.WidgetEventsView.as_view(), name="tryon-events"),
    path("api/v1/conversions", funnel_api.ConversionView.as_view(), name="v1-conversions"),
    path("api/v1/returns", funnel_api.ReturnView.as_view(), name="v1-returns"),
    path("widget.js", widget.widget_latest, name="tryon-widget"),
    re_path(r"^widget-(?P<version>\d+\.\d+\.\d+)\.js$", widget.widget_pinned, name="tryon-widget-pinned"),
    path("widget-hash", widget.widget_hash, name="tryon-widget-hash"),
    path("demo/", demo_views.demo_index, name="demo"),
    path("demo/stats", demo_views.demo_stats, name="demo-stats"),
    path("demo/reset-shopper", demo_views.demo_reset_shopper, name="demo-reset-shopper"),
    path("demo/shopper-status", demo_views.demo_shopper_status, name="demo-shopper-status"),
    path("demo/bag/", demo_views.demo_bag, name="demo-bag"),
    path("demo/bag/add", demo_views.demo_bag_add, name="demo-bag-add"),
    path("demo/bag/remove", demo_views.demo_bag_remove, name="demo-bag-remove"),
    path("demo/checkout", demo_views.demo_checkout, name="demo-checkout"),
    path("demo/orders/<slug:order_id>/", demo_views.demo_order, name="demo-order"),
    path("demo/<slug:slug>/", demo_views.demo_product, name="demo-product"),
]
