from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommunityConfig(AppConfig):
    name = "community"
    verbose_name = _("Community")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from community import roles

        # Staff groups are kept in step with the models each migration brings.
        post_migrate.connect(roles.sync_after_migrate, dispatch_uid="community.roles.sync")
