"""`POST /api/v1/events/`: product usage events in, one event or a batch of up to 1,000."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from community.api.permissions import IsOperator, TokenHasScope
from community.api.views import error_responses
from integrations.services import events as event_services


class ProductEventSerializer(serializers.Serializer):
    """One usage event (documentation only: rows are checked one by one by the service, for speed)."""

    id = serializers.CharField(max_length=120, help_text="Your own unique id for the event: re-sending it is safe.")
    name = serializers.RegexField(
        event_services.NAME_RE.pattern,
        help_text="What happened, e.g. `report_exported`; recorded as the activity verb `product.<name>`.",
    )
    occurred_at = serializers.DateTimeField(help_text="When it happened, ISO 8601 with an offset.")
    email = serializers.EmailField(required=False, help_text="The member's e-mail address …")
    external_id = serializers.CharField(
        required=False, help_text="… or their id in your product (an external identity of provider `product`)."
    )
    properties = serializers.DictField(required=False, help_text="Anything else, at most 8 KB of JSON.")


class ProductEventBatchSerializer(serializers.Serializer):
    events = ProductEventSerializer(many=True, max_length=event_services.MAX_BATCH)


class EventRowResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The row's position in `events`, from 0.")
    id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["recorded", "duplicate", "rejected"])
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False, help_text="Only when rejected."
    )


class EventBatchResultSerializer(serializers.Serializer):
    recorded = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = EventRowResultSerializer(many=True)


SINGLE_EXAMPLE = {
    "id": "evt_01HV6Z",
    "name": "report_exported",
    "occurred_at": "2026-03-01T09:30:00Z",
    "email": "lin.mei@example.com",
    "properties": {"format": "pdf", "pages": 12},
}
BATCH_EXAMPLE = {
    "events": [
        SINGLE_EXAMPLE,
        {
            "id": "evt_01HV70",
            "name": "project_created",
            "occurred_at": "2026-03-01T09:31:12+08:00",
            "external_id": "u_48213",
        },
    ]
}
BATCH_RESULT_EXAMPLE = {
    "recorded": 1,
    "duplicates": 0,
    "rejected": 1,
    "results": [
        {"index": 0, "id": "evt_01HV6Z", "status": "recorded"},
        {
            "index": 1,
            "id": "evt_01HV70",
            "status": "rejected",
            "errors": {"external_id": ["No member has this external id."]},
        },
    ],
}


class ProductEventsView(APIView):
    """Record product usage events on the activity stream, once each (idempotent by your event id).

    Send one event as the body, or `{"events": [...]}` with up to 1,000. A batch answers **200** when every row
    was recorded or was a duplicate, **207** when some rows were rejected (the others are kept); each row's
    result is in `results`, in order. A single event answers 201 (recorded), 200 (duplicate) or 400 (rejected).
    """

    permission_classes = [IsAuthenticated, IsOperator, TokenHasScope]
    required_scopes = ["events:write"]

    @extend_schema(
        operation_id="events_create",
        request=ProductEventBatchSerializer,
        responses={
            200: OpenApiResponse(EventBatchResultSerializer, description="Every row recorded (or a duplicate)."),
            201: OpenApiResponse(EventRowResultSerializer, description="A single event, recorded."),
            207: OpenApiResponse(EventBatchResultSerializer, description="Some rows rejected, the rest recorded."),
            **error_responses(400, 401, 403),
        },
        examples=[
            OpenApiExample("A batch", value=BATCH_EXAMPLE, request_only=True),
            OpenApiExample("One event", value=SINGLE_EXAMPLE, request_only=True),
            OpenApiExample(
                "Partly accepted batch", value=BATCH_RESULT_EXAMPLE, response_only=True, status_codes=["207"]
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        data: Any = request.data
        single = isinstance(data, dict) and "events" not in data
        if single:
            rows = [data]
        elif isinstance(data, dict):
            rows = data["events"]
        else:
            rows = data if isinstance(data, list) else None
        batch = event_services.product_events_ingest(events=rows, actor=request.user, token=request.auth)
        if single:
            result = batch.results[0]
            if result["status"] == event_services.Outcome.REJECTED:
                return Response(result["errors"], status=status.HTTP_400_BAD_REQUEST)
            code = (
                status.HTTP_201_CREATED if result["status"] == event_services.Outcome.RECORDED else status.HTTP_200_OK
            )
            return Response(result, status=code)
        # The row results are plain dicts already: rendered once, with no serializer per row.
        body = {
            "recorded": batch.recorded,
            "duplicates": batch.duplicates,
            "rejected": batch.rejected,
            "results": batch.results,
        }
        return Response(body, status=status.HTTP_207_MULTI_STATUS if batch.rejected else status.HTTP_200_OK)
