from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        from community import notification_kinds
        from community.notification_kinds import NotificationKind

        # Operators hear when a KPI target is missed (checked daily by analytics.tasks.kpi_targets_check_daily).
        notification_kinds.register(NotificationKind("kpi_target_missed", _("KPI targets off track")))
