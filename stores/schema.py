"""How drf-spectacular describes our authentication in the OpenAPI document."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class StoreKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "stores.auth.StoreKeyAuthentication"
    name = "storeKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A secret store key, `gvk_live_…`. Publishable keys (`gvk_pub_…`) are refused "
            "with 403 insufficient_scope.",
        }
