from django.apps import AppConfig


class StoresConfig(AppConfig):
    name = "stores"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from stores import schema  # noqa: F401 - registers the OpenAPI auth extension
