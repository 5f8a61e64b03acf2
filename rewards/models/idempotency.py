from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["IdempotencyRecord"]


class IdempotencyRecord(models.Model):
    """The response given to a request sent with an `Idempotency-Key` header, replayed when the same key comes
    again with the same body. Written in the transaction that made the change, so the two never disagree."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(_("idempotency key"), max_length=128)
    # sha256 of the endpoint and the request body: the same key with a different request is refused.
    request_fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    response_status = models.PositiveSmallIntegerField(_("response status"))
    response_body = models.JSONField(_("response body"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_record_user_key")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key} → {self.response_status}"
