"""Webhook subscriptions and their delivery log over the API (operators, scope `webhooks:manage`)."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from community.api.permissions import IsOperator, TokenHasScope
from community.api.views import IdFilter, error_responses
from integrations import event_types, selectors
from integrations.models import WebhookDelivery, WebhookSubscription
from integrations.services import webhooks as services

PERMISSIONS = [IsAuthenticated, IsOperator, TokenHasScope]
SCOPES = ["webhooks:manage"]


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64),
        help_text='Event types such as "feedback.created", or ["*"] for every type.',
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "name",
            "url",
            "event_types",
            "is_active",
            "allow_private_network",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "created_at",
        ]
        # allow_private_network is an operator's decision in the admin, never an API client's.
        read_only_fields = [
            "id",
            "allow_private_network",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "created_at",
        ]
        extra_kwargs = {"is_active": {"required": False}}


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret. Shown on create and rotate only.")

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField(source="event.uuid", read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "subscription",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_error",
            "last_duration_ms",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


class EventTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    description = serializers.CharField()
    data_keys = serializers.ListField(child=serializers.CharField())


SUBSCRIPTION_EXAMPLE = OpenApiExample(
    "Subscribe the CRM",
    value={
        "name": "CRM sync",
        "url": "https://crm.example.com/hooks/hearth",
        "event_types": ["member.accepted", "member.left", "points.awarded"],
    },
    request_only=True,
)


class WebhookSubscriptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """URLs that receive signed POSTs for the event types they subscribe to."""

    serializer_class = WebhookSubscriptionSerializer
    permission_classes = PERMISSIONS
    required_scopes = SCOPES
    filterset_fields = ["is_active"]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        return selectors.webhook_subscription_list()

    @extend_schema(
        responses={200: WebhookSubscriptionSerializer(many=True), **error_responses(400, 401, 403, paginated=True)}
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: WebhookSubscriptionSerializer, **error_responses(401, 403, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        responses={201: WebhookSubscriptionCreatedSerializer, **error_responses(400, 401, 403)},
        examples=[SUBSCRIPTION_EXAMPLE],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = WebhookSubscriptionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        subscription = services.webhook_subscription_create(actor=request.user, **body.validated_data)
        return Response(WebhookSubscriptionCreatedSerializer(subscription).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=WebhookSubscriptionSerializer,
        responses={200: WebhookSubscriptionSerializer, **error_responses(400, 401, 403, 404)},
        examples=[OpenApiExample("Switch back on", value={"is_active": True}, request_only=True)],
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change a subscription; switching it back on resumes the deliveries that waited."""
        subscription = self.get_object()
        body = WebhookSubscriptionSerializer(subscription, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        subscription = services.webhook_subscription_update(
            actor=request.user, subscription=subscription, **body.validated_data
        )
        return Response(WebhookSubscriptionSerializer(subscription).data)

    @extend_schema(responses={204: None, **error_responses(401, 403, 404)})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.webhook_subscription_delete(actor=request.user, subscription=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None, responses={200: WebhookSubscriptionCreatedSerializer, **error_responses(401, 403, 404)}
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret", filterset_fields=None)
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        """A new signing secret; the old one stops working at once."""
        subscription = services.webhook_subscription_rotate_secret(actor=request.user, subscription=self.get_object())
        return Response(WebhookSubscriptionCreatedSerializer(subscription).data)

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer, **error_responses(401, 403, 404)})
    @action(detail=True, methods=["post"], url_path="test", filterset_fields=None)
    def send_test(self, request: Request, pk: str | None = None) -> Response:
        """Queue a `webhook.test` event to this subscription."""
        delivery = services.webhook_send_test(actor=request.user, subscription=self.get_object())
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryFilter(django_filters.FilterSet):
    subscription = IdFilter(field_name="subscription")

    class Meta:
        model = WebhookDelivery
        fields = ["subscription", "status"]


class WebhookDeliveryViewSet(viewsets.ReadOnlyModelViewSet):
    """The delivery log: one row per event per subscription, with its last attempt."""

    serializer_class = WebhookDeliverySerializer
    permission_classes = PERMISSIONS
    required_scopes = SCOPES
    filterset_class = WebhookDeliveryFilter
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return selectors.webhook_delivery_list()

    @extend_schema(
        responses={200: WebhookDeliverySerializer(many=True), **error_responses(400, 401, 403, paginated=True)},
        examples=[
            OpenApiExample(
                "A delivery being retried",
                response_only=True,
                value={
                    "count": 1,
                    "next": None,
                    "previous": None,
                    "results": [
                        {
                            "id": 311,
                            "subscription": 2,
                            "event_id": "0b6f4f0e-3c9e-4c8e-9f57-2d7e3c1f9a10",
                            "event_type": "points.awarded",
                            "status": "pending",
                            "attempts": 2,
                            "next_attempt_at": "2026-03-01T09:32:05Z",
                            "last_attempt_at": "2026-03-01T09:31:05Z",
                            "last_status_code": 500,
                            "last_error": "HTTP 500",
                            "last_duration_ms": 41,
                            "delivered_at": None,
                            "created_at": "2026-03-01T09:30:02Z",
                        }
                    ],
                },
            )
        ],
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: WebhookDeliverySerializer, **error_responses(401, 403, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer, **error_responses(401, 403, 404)})
    @action(detail=True, methods=["post"], filterset_class=None)
    def redeliver(self, request: Request, pk: str | None = None) -> Response:
        """Send this delivery again now."""
        delivery = services.webhook_delivery_redeliver(actor=request.user, delivery=self.get_object())
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookEventTypesView(APIView):
    """The event types a subscription can ask for, and the keys of each payload's `data`."""

    permission_classes = PERMISSIONS
    required_scopes = SCOPES

    @extend_schema(
        responses={200: EventTypeSerializer(many=True), **error_responses(401, 403)},
        examples=[
            OpenApiExample(
                "One of the types",
                response_only=True,
                value=[
                    {
                        "type": "points.awarded",
                        "description": "A member earned points.",
                        "data_keys": ["entry_id", "member_id", "points", "reason", "idempotency_key", "created_at"],
                    }
                ],
            )
        ],
    )
    def get(self, request: Request) -> Response:
        rows = [
            {"type": name, "description": description, "data_keys": list(keys)}
            for name, (description, keys) in sorted(event_types.EVENT_TYPES.items())
        ]
        return Response(rows)
