from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = _("Rewards")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from community import activity_hooks
        from rewards.models import Badge, Level, PointRule

        # Importing the levels service registers its notification kind ("level_up").
        from rewards.services import levels, rules

        # Point rules award (or deduct) points for each activity as it is recorded, in the same transaction.
        activity_hooks.register(rules.rules_apply)
        # Then badges whose criteria read the stream (streaks, counts of a verb) are checked for the same activities.
        from rewards.services import badges

        activity_hooks.register(badges.badges_evaluate_for_activities)
        # Rules, levels and badges are read from a cache on every award; any change to them forgets it.
        for name, signal in (("saved", post_save), ("deleted", post_delete)):
            signal.connect(rules.rules_cache_forget, sender=PointRule, dispatch_uid=f"rewards.rule_{name}")
            signal.connect(levels.level_ladder_forget, sender=Level, dispatch_uid=f"rewards.level_{name}")
            signal.connect(badges.active_badges_forget, sender=Badge, dispatch_uid=f"rewards.badge_{name}")
