from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self) -> None:
        from community import domain_events, notification_kinds
        from community.notification_kinds import NotificationKind
        from integrations.services import webhooks

        notification_kinds.register(
            NotificationKind(
                webhooks.WEBHOOK_DISABLED_KIND,
                _("A webhook subscription was switched off after repeated failures"),
            )
        )
        # Every published domain event may become webhook deliveries (after commit; the listener only queues).
        domain_events.subscribe(webhooks.webhook_event_publish)
