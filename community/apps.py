from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommunityConfig(AppConfig):
    name = "community"
    verbose_name = _("Community")

    def ready(self) -> None:
        from django.contrib.auth.models import Group
        from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save

        from community import roles
        from community.authentication import api_token_cache_forget
        from community.models import ApiToken
        from members.models import Member, User

        # Staff groups are kept in step with the models each migration brings.
        post_migrate.connect(roles.sync_after_migrate, dispatch_uid="community.roles.sync")
        # API tokens are kept briefly in each process with their account, profile and groups: any change to one of
        # those drops this process's copies, so the change applies at once here (see community.authentication).
        for model in (ApiToken, User, Member, Group):
            post_save.connect(
                api_token_cache_forget, sender=model, dispatch_uid=f"api_token_cache.save.{model.__name__}"
            )
            post_delete.connect(
                api_token_cache_forget, sender=model, dispatch_uid=f"api_token_cache.delete.{model.__name__}"
            )
        m2m_changed.connect(api_token_cache_forget, sender=User.groups.through, dispatch_uid="api_token_cache.groups")
