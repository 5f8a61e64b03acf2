from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")

    def ready(self) -> None:
        from community import notification_kinds
        from community.notification_kinds import NotificationKind

        notification_kinds.register(NotificationKind("application_received", _("Your application was received")))
        notification_kinds.register(NotificationKind("application_interview", _("Interview invitations")))
        notification_kinds.register(NotificationKind("application_decision", _("Decisions on your application")))
