from __future__ import annotations

from zoneinfo import available_timezones

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

TIME_ZONE_CHOICES = [(name, name) for name in sorted(available_timezones())]


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """An account: signs in with its email address. The community profile lives in Member."""

    email = models.EmailField(_("email address"), max_length=254, unique=True)
    is_staff = models.BooleanField(_("staff status"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email


class Tag(models.Model):
    """An operator-assigned label (用户标签)."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    description = models.CharField(_("description"), max_length=255, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class AgeBand(models.TextChoices):
    UNDER_18 = "u18", _("Under 18")
    FROM_18 = "18-24", _("18-24")
    FROM_25 = "25-34", _("25-34")
    FROM_35 = "35-44", _("35-44")
    FROM_45 = "45-54", _("45-54")
    FROM_55 = "55+", _("55 or older")


class Member(models.Model):
    """The community profile created with every account."""

    AgeBand = AgeBand

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        LEFT = "left", _("Left the program")
        REMOVED = "removed", _("Removed from the program")

    class Segment(models.TextChoices):
        NOVICE = "novice", _("Novice")
        ACTIVE = "active", pgettext_lazy("member segment", "Active")
        LOYAL = "loyal", _("Loyal")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member")
    display_name = models.CharField(_("display name"), max_length=80)
    avatar = models.ImageField(_("avatar"), upload_to="avatars/%Y/%m/", blank=True)
    bio = models.TextField(_("bio"), max_length=2000, blank=True)
    locale = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="en")
    time_zone = models.CharField(_("time zone"), max_length=64, choices=TIME_ZONE_CHOICES, default="Asia/Shanghai")
    tags = models.ManyToManyField(Tag, blank=True, related_name="members", verbose_name=_("tags"))
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now, db_index=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    left_at = models.DateTimeField(_("left at"), null=True, blank=True, db_index=True)
    # Activity-based class, recomputed by a scheduled job (members.services); KPIs and rollups break down by it.
    segment = models.CharField(_("segment"), max_length=16, choices=Segment.choices, default=Segment.NOVICE)
    segment_changed_at = models.DateTimeField(_("segment changed at"), null=True, blank=True)
    # Persona (用户画像): what operators target rounds, surveys and events at.
    age_band = models.CharField(_("age band"), max_length=8, choices=AgeBand.choices, blank=True)
    occupation = models.CharField(_("occupation"), max_length=120, blank=True)
    interests = models.CharField(_("interests"), max_length=255, blank=True, help_text=_("Comma-separated."))
    needs = models.TextField(_("needs and pain points"), max_length=2000, blank=True)

    class Meta:
        ordering = ["display_name", "id"]
        verbose_name = _("member")
        verbose_name_plural = _("members")
        indexes = [
            # What the daily analytics rollup looks up of each member active that day, from this narrow index alone
            # rather than the wide rows (the profile text): a tenth of the pages to keep in memory.
            models.Index(fields=["id"], include=["segment", "joined_at"], name="member_rollup_columns"),
        ]

    def __str__(self) -> str:
        return self.display_name
