"""factory_boy factories shared by every test module."""

from __future__ import annotations

import factory
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.utils import timezone

from community import roles
from community.models import Activity, Notification
from community.services import local_date_for
from members.models import Member, Tag, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def verified(self, create: bool, extracted: bool | None, **kwargs: object) -> None:
        if create:
            self.save()
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    user = factory.SubFactory(UserFactory)
    display_name = factory.Sequence(lambda n: f"Member {n}")
    locale = "en"
    time_zone = "Asia/Shanghai"


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag-{n}")


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    member = factory.SubFactory(MemberFactory)
    verb = "checked_in"
    occurred_at = factory.LazyFunction(timezone.now)
    local_date = factory.LazyAttribute(lambda o: local_date_for(o.member, o.occurred_at))


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    member = factory.SubFactory(MemberFactory)
    kind = "operator_message"
    title = factory.Sequence(lambda n: f"Notice {n}")
    body = "Something happened."
    email_status = Notification.EmailStatus.SKIPPED


def staff_member(role: str, **kwargs: object) -> Member:
    """A member whose account is staff in the given role group (operator, moderator, analyst)."""
    member = MemberFactory(user__is_staff=True, **kwargs)
    roles.roles_sync()
    member.user.groups.add(Group.objects.get(name=role))
    return member
