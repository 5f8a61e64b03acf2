from __future__ import annotations

from typing import Any

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from community import roles
from community.api.permissions import HasMemberProfile
from community.api.views import error_responses
from members import selectors, services
from members.models import Member


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = Member
        fields = [
            "id",
            "display_name",
            "email",
            "avatar",
            "bio",
            "locale",
            "time_zone",
            "tags",
            "joined_at",
            "status",
            "left_at",
            "segment",
            "age_band",
            "occupation",
            "interests",
            "needs",
        ]
        read_only_fields = fields


class ProfileUpdateSerializer(serializers.ModelSerializer):
    """What a member may change about themselves; everything else is ignored."""

    class Meta:
        model = Member
        fields = ["display_name", "bio", "locale", "time_zone"]
        extra_kwargs = {name: {"required": False} for name in fields}


class PersonaUpdateSerializer(serializers.ModelSerializer):
    """The member's persona (用户画像): what operators target rounds, surveys and events at."""

    class Meta:
        model = Member
        fields = ["age_band", "occupation", "interests", "needs"]
        extra_kwargs = {name: {"required": False} for name in fields}


class MemberFilter(django_filters.FilterSet):
    tag = django_filters.CharFilter(field_name="tags__name")
    joined_after = django_filters.DateTimeFilter(field_name="joined_at", lookup_expr="gte")
    q = django_filters.CharFilter(field_name="display_name", lookup_expr="icontains")
    occupation = django_filters.CharFilter(lookup_expr="icontains")
    interest = django_filters.CharFilter(field_name="interests", lookup_expr="icontains")
    round = django_filters.NumberFilter(method="filter_round", label="accepted in round")

    class Meta:
        model = Member
        fields = ["locale", "tag", "joined_after", "q", "status", "segment", "age_band", "occupation", "interest"]

    def filter_round(self, queryset: Any, name: str, value: Any) -> Any:
        return queryset.filter(pk__in=selectors.round_member_ids(round_id=int(value)))


class MemberViewSet(viewsets.ReadOnlyModelViewSet):
    """Members. Operators list and read everyone; a member reads and edits only their own profile (`me`)."""

    serializer_class = MemberSerializer
    permission_classes = [IsAuthenticated]
    filterset_class = MemberFilter
    ordering_fields = ["display_name", "joined_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False) or roles.is_operator(self.request.user):
            return selectors.member_list()
        return selectors.member_list().filter(user=self.request.user)

    @extend_schema(responses={200: MemberSerializer(many=True), **error_responses(400, 401, 403, paginated=True)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not roles.is_operator(request.user):
            self.permission_denied(request, message=_("Only operators may list members."))
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: MemberSerializer, **error_responses(401, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(methods=["GET"], responses={200: MemberSerializer, **error_responses(401, 403)})
    @extend_schema(
        methods=["PATCH"],
        request=ProfileUpdateSerializer,
        responses={200: MemberSerializer, **error_responses(400, 401, 403)},
    )
    @action(
        detail=False,
        methods=["get", "patch"],
        permission_classes=[IsAuthenticated, HasMemberProfile],
        filterset_class=None,
        pagination_class=None,
    )
    def me(self, request: Request) -> Response:
        member = request.user.member
        if request.method == "PATCH":
            body = ProfileUpdateSerializer(member, data=request.data, partial=True)
            body.is_valid(raise_exception=True)
            member = services.member_profile_update(member=member, actor=request.user, **body.validated_data)
        return Response(MemberSerializer(member, context={"request": request}).data)

    @extend_schema(methods=["GET"], responses={200: PersonaUpdateSerializer, **error_responses(401, 403)})
    @extend_schema(
        methods=["PATCH"],
        request=PersonaUpdateSerializer,
        responses={200: PersonaUpdateSerializer, **error_responses(400, 401, 403)},
    )
    @action(
        detail=False,
        methods=["get", "patch"],
        url_path="me/persona",
        permission_classes=[IsAuthenticated, HasMemberProfile],
        filterset_class=None,
        pagination_class=None,
    )
    def persona(self, request: Request) -> Response:
        """The signed-in member's persona fields (age band, occupation, interests, needs and pain points)."""
        member = request.user.member
        if request.method == "PATCH":
            body = PersonaUpdateSerializer(member, data=request.data, partial=True)
            body.is_valid(raise_exception=True)
            member = services.member_profile_update(member=member, actor=request.user, **body.validated_data)
        return Response(PersonaUpdateSerializer(member).data)
