from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EngageConfig(AppConfig):
    name = "engage"
    verbose_name = _("Engagement")

    def ready(self) -> None:
        from engage import kinds  # noqa: F401  (registers the notification kinds)
