from __future__ import annotations

from typing import Any

from rest_framework import serializers

from community import notification_kinds
from community.models import Activity, ApiToken, Notification


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in the requester's language.")


class NotificationSerializer(serializers.ModelSerializer):
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "url", "created_at", "read_at", "is_read"]
        read_only_fields = fields

    def get_is_read(self, obj: Notification) -> bool:
        return obj.read_at is not None


# The largest primary key the database holds; a bigger number is a client error, not a query the database refuses.
MAX_ID = 2**63 - 1


class MarkReadSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=500,
        help_text="Notification ids to mark read; leave out to mark all read.",
    )


class MarkReadResultSerializer(serializers.Serializer):
    marked = serializers.IntegerField()


class UnreadCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField()


class NotificationPreferenceSerializer(serializers.Serializer):
    kind = serializers.CharField(read_only=True)
    label = serializers.CharField(read_only=True)
    in_portal = serializers.BooleanField()
    email = serializers.BooleanField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return attrs


class ActivitySerializer(serializers.ModelSerializer):
    target_type = serializers.SerializerMethodField()

    class Meta:
        model = Activity
        fields = ["id", "member", "verb", "target_type", "target_id", "data", "occurred_at", "local_date"]
        read_only_fields = fields

    def get_target_type(self, obj: Activity) -> str | None:
        return obj.target_type.model if obj.target_type_id else None


def _scope_field(**kwargs: Any) -> serializers.ListField:
    from integrations.scopes import SCOPES

    return serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(SCOPES)),
        max_length=len(SCOPES),
        help_text='What the token may do, e.g. ["events:write", "members:read"]. Empty or left out: full '
        "access (everything the account may do). A token made by a scoped token must be scoped within it.",
        **kwargs,
    )


class ApiTokenSerializer(serializers.ModelSerializer):
    is_active = serializers.BooleanField(read_only=True)
    scopes = _scope_field(required=False)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "is_active",
        ]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at", "revoked_at", "is_active"]
        extra_kwargs = {"expires_at": {"required": False, "allow_null": True}}


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    key = serializers.CharField(read_only=True, help_text="The secret. Shown only in this response.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]


class ApiTokenScopesSerializer(serializers.Serializer):
    scopes = _scope_field()


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    checks = serializers.DictField(child=serializers.DictField())


def notification_kind_choices() -> list[str]:
    return sorted(notification_kinds.KINDS)
