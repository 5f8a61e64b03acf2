"""External identities over the API: link members to a product's user ids and other handles (operators)."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from community.api.permissions import IsOperator, TokenHasScope
from community.api.views import IdFilter, error_responses
from integrations import selectors
from integrations.models import ExternalIdentity
from integrations.services import identities as services
from members.models import Member


class ExternalIdentitySerializer(serializers.ModelSerializer):
    member = serializers.PrimaryKeyRelatedField(queryset=Member.objects.all())

    class Meta:
        model = ExternalIdentity
        fields = ["id", "member", "provider", "external_id", "handle", "created_at"]
        read_only_fields = ["id", "created_at"]
        # Uniqueness is the service's check (a clear message), not the serializer's.
        validators: list[Any] = []


class ExternalIdentityUpdateSerializer(serializers.Serializer):
    handle = serializers.CharField(max_length=191, allow_blank=True)


class ExternalIdentityFilter(django_filters.FilterSet):
    member = IdFilter(field_name="member")

    class Meta:
        model = ExternalIdentity
        fields = ["member", "provider", "external_id"]


class ExternalIdentityViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Members' ids in other systems. `provider=product` ids are what `external_id` in events matches."""

    serializer_class = ExternalIdentitySerializer
    permission_classes = [IsAuthenticated, IsOperator, TokenHasScope]
    required_scopes = {"read": ["members:read"], "write": ["members:write"]}
    filterset_class = ExternalIdentityFilter
    ordering_fields = ["created_at", "provider"]

    def get_queryset(self):
        return selectors.external_identity_list()

    @extend_schema(
        responses={200: ExternalIdentitySerializer(many=True), **error_responses(400, 401, 403, paginated=True)}
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: ExternalIdentitySerializer, **error_responses(401, 403, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        responses={201: ExternalIdentitySerializer, **error_responses(400, 401, 403)},
        examples=[
            OpenApiExample(
                "Link a product user id",
                value={"member": 42, "provider": "product", "external_id": "u_48213", "handle": "linmei"},
                request_only=True,
            )
        ],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        identity = services.external_identity_link(actor=request.user, **body.validated_data)
        return Response(self.get_serializer(identity).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=ExternalIdentityUpdateSerializer,
        responses={200: ExternalIdentitySerializer, **error_responses(400, 401, 403, 404)},
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = ExternalIdentityUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        identity = services.external_identity_update(
            actor=request.user, identity=self.get_object(), handle=body.validated_data["handle"]
        )
        return Response(self.get_serializer(identity).data)

    @extend_schema(responses={204: None, **error_responses(401, 403, 404)})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.external_identity_unlink(actor=request.user, identity=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
