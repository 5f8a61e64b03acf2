from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from community import health, notification_kinds, notifications, roles, selectors, services
from community.api import serializers as s
from community.api.permissions import HasMemberProfile, IsOperator
from community.models import Activity, ApiToken, Notification, NotificationEmailSetting

ERRORS = {
    400: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="Invalid input: each field's messages under its name (`non_field_errors` for the body as a "
        "whole), or `detail` when the body could not be read at all.",
    ),
    401: OpenApiResponse(s.ErrorSerializer, description="Not signed in, or the token is invalid, expired or revoked."),
    403: OpenApiResponse(s.ErrorSerializer, description="Signed in, but not allowed to do this."),
    404: OpenApiResponse(s.ErrorSerializer, description="Not found, or not yours to see."),
}
PAGE_NOT_FOUND = OpenApiResponse(s.ErrorSerializer, description="No such page of results.")


def error_responses(*codes: int, paginated: bool = False) -> dict[int, OpenApiResponse]:
    """The documented error answers of an operation; a paginated list also answers 404 for a page past the end."""
    responses = {code: ERRORS[code] for code in codes}
    if paginated:
        responses[404] = PAGE_NOT_FOUND
    return responses


class NotificationViewSet(viewsets.ReadOnlyModelViewSet):
    """The signed-in member's inbox."""

    serializer_class = s.NotificationSerializer
    permission_classes = [IsAuthenticated, HasMemberProfile]
    required_scopes = {"read": ["notifications:read"], "write": ["notifications:write"]}
    filterset_fields = {"kind": ["exact"], "read_at": ["isnull"]}
    ordering_fields = ["created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        return selectors.notification_list_for_member(member=self.request.user.member)

    @extend_schema(responses={200: s.NotificationSerializer(many=True), **error_responses(401, 403, paginated=True)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: s.NotificationSerializer, **error_responses(401, 403, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=s.MarkReadSerializer, responses={200: s.MarkReadResultSerializer, **error_responses(400, 401, 403)}
    )
    @action(detail=False, methods=["post"], url_path="mark-read")
    def mark_read(self, request: Request) -> Response:
        body = s.MarkReadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        marked = services.notifications_mark_read(
            member=request.user.member, notification_ids=body.validated_data.get("ids")
        )
        return Response({"marked": marked})

    @extend_schema(responses={200: s.UnreadCountSerializer, **error_responses(401, 403)})
    @action(detail=False, methods=["get"], url_path="unread-count", filterset_fields=None, pagination_class=None)
    def unread_count(self, request: Request) -> Response:
        return Response({"unread": selectors.notification_unread_count(member=request.user.member)})


class BounceSerializer(serializers.Serializer):
    email = serializers.EmailField()
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class BounceResultSerializer(serializers.Serializer):
    members = serializers.IntegerField(help_text="How many members the address belongs to (0 or 1).")


class NotificationBounceView(APIView):
    """Operators (or the mail provider's webhook, with an operator token): an address bounced — stop e-mailing it."""

    permission_classes = [IsAuthenticated, IsOperator]

    @extend_schema(request=BounceSerializer, responses={200: BounceResultSerializer, **error_responses(400, 401, 403)})
    def post(self, request: Request) -> Response:
        body = BounceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        count = notifications.email_bounce_record(actor=request.user, **body.validated_data)
        return Response({"members": count})


class EmailFrequencySerializer(serializers.Serializer):
    frequency = serializers.ChoiceField(choices=NotificationEmailSetting.Frequency.choices)
    bounced = serializers.BooleanField(read_only=True)


class NotificationEmailView(APIView):
    """How often the signed-in member gets e-mail: each message, or a daily or weekly digest."""

    permission_classes = [IsAuthenticated, HasMemberProfile]

    def _answer(self, member: Any) -> Response:
        setting = NotificationEmailSetting.objects.filter(member=member).first()
        return Response(
            {
                "frequency": setting.frequency if setting else NotificationEmailSetting.Frequency.IMMEDIATE,
                "bounced": bool(setting and setting.bounced_at),
            }
        )

    @extend_schema(responses={200: EmailFrequencySerializer, **error_responses(401, 403)})
    def get(self, request: Request) -> Response:
        return self._answer(request.user.member)

    @extend_schema(
        request=EmailFrequencySerializer, responses={200: EmailFrequencySerializer, **error_responses(400, 401, 403)}
    )
    def put(self, request: Request) -> Response:
        body = EmailFrequencySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        notifications.email_frequency_set(
            member=request.user.member, frequency=body.validated_data["frequency"], actor=request.user
        )
        return self._answer(request.user.member)


class NotificationPreferenceView(APIView):
    """Which channels each kind of notification reaches the signed-in member by."""

    permission_classes = [IsAuthenticated, HasMemberProfile]
    required_scopes = ["notifications:read"]

    @extend_schema(responses={200: s.NotificationPreferenceSerializer(many=True), **error_responses(401, 403)})
    def get(self, request: Request) -> Response:
        return Response(selectors.notification_preferences_for_member(member=request.user.member))


class NotificationPreferenceDetailView(APIView):
    """Choose the channels one kind of notification reaches the signed-in member by."""

    permission_classes = [IsAuthenticated, HasMemberProfile]
    required_scopes = ["notifications:write"]

    @extend_schema(
        request=s.NotificationPreferenceSerializer,
        responses={200: s.NotificationPreferenceSerializer, **error_responses(400, 401, 403, 404)},
    )
    def put(self, request: Request, kind: str) -> Response:
        if kind not in notification_kinds.KINDS:
            raise NotFound(_("Unknown notification kind."))
        body = s.NotificationPreferenceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.notification_preference_set(member=request.user.member, kind=kind, **body.validated_data)
        row = next(
            r for r in selectors.notification_preferences_for_member(member=request.user.member) if r["kind"] == kind
        )
        return Response(row)


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    """A row id: a whole number in the database's range, matched without first looking the row up.

    A model-choice filter would answer 400 for an id that does not exist and 200 for one that does, telling a
    member which ids exist even where they may not see the rows.
    """

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", s.MAX_ID)
        super().__init__(*args, **kwargs)


class ActivityFilter(django_filters.FilterSet):
    member = IdFilter(field_name="member")
    since = django_filters.DateFilter(field_name="local_date", lookup_expr="gte")
    until = django_filters.DateFilter(field_name="local_date", lookup_expr="lte")

    class Meta:
        model = Activity
        fields = ["member", "verb", "since", "until"]


class ActivityViewSet(viewsets.ReadOnlyModelViewSet):
    """The activity stream: a member sees their own actions; operators see everyone's."""

    serializer_class = s.ActivitySerializer
    permission_classes = [IsAuthenticated]
    required_scopes = ["activity:read"]
    filterset_class = ActivityFilter
    ordering_fields = ["occurred_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Activity.objects.none()
        user = self.request.user
        if roles.is_operator(user):
            activities = selectors.activity_list()
        elif (member := getattr(user, "member", None)) is not None:
            activities = selectors.activity_list(member=member)
        else:
            return Activity.objects.none()
        # The serializer names each row's target type: join it in rather than query it once per row.
        return activities.select_related("target_type")

    @extend_schema(responses={200: s.ActivitySerializer(many=True), **error_responses(400, 401, paginated=True)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: s.ActivitySerializer, **error_responses(401, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)


def _check_scopes_within_token(request: Request, scopes: list[str]) -> None:
    """A scoped token may hand out only scopes it holds itself, and never a full-access token."""
    granted = getattr(request.auth, "scopes", None) if isinstance(request.auth, ApiToken) else None
    if granted and (not scopes or not set(scopes) <= set(granted)):
        raise PermissionDenied(_("A scoped token can only give a new token scopes it holds itself."))


class ApiTokenViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Your named API tokens. Creating one returns its secret once; deleting one revokes it."""

    serializer_class = s.ApiTokenSerializer
    permission_classes = [IsAuthenticated]
    required_scopes = ["tokens:manage"]
    filterset_fields: list[str] = []
    ordering_fields = ["created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return selectors.api_tokens_for_user(user=self.request.user)

    @extend_schema(responses={200: s.ApiTokenSerializer(many=True), **error_responses(401, paginated=True)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=s.ApiTokenSerializer,
        responses={201: s.ApiTokenCreatedSerializer, **error_responses(400, 401, 403)},
        examples=[
            OpenApiExample(
                "A token for a product backend",
                value={"name": "product-backend", "scopes": ["events:write", "members:read"]},
                request_only=True,
            )
        ],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.ApiTokenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        _check_scopes_within_token(request, body.validated_data.get("scopes") or [])
        token, raw_key = services.api_token_create(user=request.user, **body.validated_data)
        data = s.ApiTokenCreatedSerializer(token).data
        data["key"] = raw_key
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.ApiTokenScopesSerializer,
        responses={200: s.ApiTokenSerializer, **error_responses(400, 401, 403, 404)},
        examples=[OpenApiExample("Narrow a token", value={"scopes": ["events:write", "members:read"]})],
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change a token's scopes."""
        body = s.ApiTokenScopesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        _check_scopes_within_token(request, body.validated_data["scopes"])
        token = services.api_token_scopes_set(
            actor=request.user, token=self.get_object(), scopes=body.validated_data["scopes"]
        )
        return Response(s.ApiTokenSerializer(token).data)

    @extend_schema(responses={204: None, **error_responses(401, 403, 404)})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # get_object() answers 404 for an id that is not a number; a bare queryset lookup would raise a 500.
        services.api_token_revoke(actor=request.user, token=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class HealthView(APIView):
    """Database, cache and broker status. 200 when all answer, 503 when any does not."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    throttle_classes: list[Any] = []

    @extend_schema(
        responses={
            200: OpenApiResponse(s.HealthSerializer, description="Every check passed."),
            503: OpenApiResponse(s.HealthSerializer, description="At least one check failed; see `checks`."),
        },
        auth=[],
    )
    def get(self, request: Request) -> Response:
        report = health.check_all()
        return Response(report, status=200 if report["status"] == "ok" else 503)
