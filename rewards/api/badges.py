"""Badges API: the catalogue, awards (a member's own; operators everyone's), and operators' grant and revoke."""

from __future__ import annotations

from typing import Any

import django_filters
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView

from community import roles
from community.api.permissions import IsOperator
from community.api.views import error_responses
from members.models import Member
from rewards import openbadges
from rewards.models import Badge, BadgeAward
from rewards.selectors import badges as selectors
from rewards.services import badges as services


def _member_of(request: Request) -> Member | None:
    return getattr(request.user, "member", None) if request.user.is_authenticated else None


class BadgeSerializer(serializers.ModelSerializer):
    image = serializers.SerializerMethodField(help_text="Absolute URL of the badge image (uploaded, or generated).")
    criteria_explained = serializers.CharField(read_only=True)
    holders = serializers.IntegerField(read_only=True)
    earned = serializers.SerializerMethodField(help_text="Whether the signed-in member holds this badge now.")
    badge_class_url = serializers.SerializerMethodField(help_text="The Open Badges 2.0 BadgeClass document.")

    class Meta:
        model = Badge
        fields = [
            "slug",
            "name",
            "description",
            "image",
            "emoji",
            "colour",
            "tier",
            "is_title",
            "criteria",
            "criteria_explained",
            "is_active",
            "holders",
            "earned",
            "badge_class_url",
        ]
        read_only_fields = fields

    def get_image(self, badge: Badge) -> str:
        return openbadges.badge_image_url(badge)

    def get_earned(self, badge: Badge) -> bool:
        return badge.pk in self.context.get("held", ())

    def get_badge_class_url(self, badge: Badge) -> str:
        return openbadges.badge_class_id(badge)


class BadgeBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Badge
        fields = ["slug", "name", "tier", "is_title", "emoji"]
        read_only_fields = fields


class BadgeMemberSerializer(serializers.ModelSerializer):
    class Meta:
        model = Member
        fields = ["id", "display_name"]
        read_only_fields = fields


class BadgeAwardSerializer(serializers.ModelSerializer):
    badge = BadgeBriefSerializer(read_only=True)
    member = BadgeMemberSerializer(read_only=True)
    granted = serializers.SerializerMethodField(help_text="True when an operator granted it by hand.")
    assertion_url = serializers.SerializerMethodField(help_text="The public Open Badges 2.0 assertion.")

    class Meta:
        model = BadgeAward
        fields = [
            "id",
            "badge",
            "member",
            "awarded_at",
            "granted",
            "evidence",
            "revoked_at",
            "revoked_reason",
            "assertion_url",
        ]
        read_only_fields = fields

    def get_granted(self, award: BadgeAward) -> bool:
        return award.actor_id is not None or bool(award.evidence.get("granted"))

    def get_assertion_url(self, award: BadgeAward) -> str:
        return openbadges.assertion_id(award)


class BadgeGrantSerializer(serializers.Serializer):
    badge = serializers.SlugRelatedField(slug_field="slug", queryset=Badge.objects.all())
    member = serializers.PrimaryKeyRelatedField(queryset=Member.objects.all())
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class BadgeRevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class BadgeViewSet(viewsets.ReadOnlyModelViewSet):
    """The badge catalogue, with whether the signed-in member holds each. Operators also see inactive badges."""

    serializer_class = BadgeSerializer
    permission_classes = [IsAuthenticated]
    required_scopes = ["points:read"]
    lookup_field = "slug"
    filterset_fields = ["tier", "is_title"]
    ordering_fields = ["name", "tier"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Badge.objects.none()
        return selectors.badge_list(include_inactive=roles.is_operator(self.request.user))

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        member = _member_of(self.request) if not getattr(self, "swagger_fake_view", False) else None
        context["held"] = set(selectors.held_awards(member=member)) if member is not None else set()
        return context

    @extend_schema(responses={200: BadgeSerializer(many=True), **error_responses(400, 401, 403)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: BadgeSerializer, **error_responses(401, 403, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)


class BadgeAwardFilter(django_filters.FilterSet):
    badge = django_filters.CharFilter(field_name="badge__slug", help_text="Badge slug.")
    member = django_filters.NumberFilter(field_name="member_id", help_text="Member id (operators).")
    revoked = django_filters.BooleanFilter(field_name="revoked_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = BadgeAward
        fields = ["badge", "member", "revoked"]


class BadgeAwardViewSet(viewsets.ReadOnlyModelViewSet):
    """Badge awards: a member sees their own; operators see everyone's and filter by member or badge."""

    serializer_class = BadgeAwardSerializer
    permission_classes = [IsAuthenticated]
    required_scopes = ["points:read"]
    filterset_class = BadgeAwardFilter
    ordering_fields = ["awarded_at"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return BadgeAward.objects.none()
        if roles.is_operator(self.request.user):
            return selectors.award_list()
        member = _member_of(self.request)
        return selectors.award_list(member=member) if member is not None else BadgeAward.objects.none()

    @extend_schema(responses={200: BadgeAwardSerializer(many=True), **error_responses(400, 401, 403)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: BadgeAwardSerializer, **error_responses(401, 403, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)


class BadgeGrantView(APIView):
    """Operators give a member a badge (manual titles such as 超级用户 are only given this way)."""

    permission_classes = [IsAuthenticated, IsOperator]
    required_scopes = ["points:award"]

    @extend_schema(
        request=BadgeGrantSerializer, responses={201: BadgeAwardSerializer, **error_responses(400, 401, 403)}
    )
    def post(self, request: Request) -> Response:
        body = BadgeGrantSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        award = services.badge_grant(actor=request.user, **body.validated_data)
        return Response(BadgeAwardSerializer(award).data, status=status.HTTP_201_CREATED)


class BadgeRevokeView(APIView):
    """Operators take a badge back, with a reason; the award's public assertion then answers 410 Gone."""

    permission_classes = [IsAuthenticated, IsOperator]
    required_scopes = ["points:award"]

    @extend_schema(
        request=BadgeRevokeSerializer, responses={200: BadgeAwardSerializer, **error_responses(400, 401, 403, 404)}
    )
    def post(self, request: Request, pk: int) -> Response:
        award = BadgeAward.objects.select_related("badge", "member").filter(pk=pk).first()
        if award is None:
            return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        body = BadgeRevokeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        award = services.badge_revoke(award=award, actor=request.user, reason=body.validated_data["reason"])
        return Response(BadgeAwardSerializer(award).data)


router = DefaultRouter()
router.include_root_view = False
router.register("badges", BadgeViewSet, basename="badge")
router.register("badge-awards", BadgeAwardViewSet, basename="badge-award")

# The workflow endpoints come first, so "grant" is never read as an award id.
urlpatterns = [
    path("badge-awards/grant/", BadgeGrantView.as_view(), name="badge-award-grant"),
    path("badge-awards/<int:pk>/revoke/", BadgeRevokeView.as_view(), name="badge-award-revoke"),
    *router.urls,
]
