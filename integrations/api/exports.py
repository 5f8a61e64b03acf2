"""`GET /api/v1/exports/<name>.<csv|json>`: streamed warehouse exports for operators and analysts."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from community import roles
from community.api.permissions import TokenHasScope
from community.api.views import error_responses
from community.services import audit_record
from integrations import exports


class IsOperatorOrAnalyst(BasePermission):
    message = _("Only operators and analysts may download exports.")

    def has_permission(self, request: Any, view: Any) -> bool:
        return roles.user_has_role(request.user, roles.OPERATOR, roles.ANALYST)


class ExportView(APIView):
    """Download a whole table, streamed. Names: members, activity, ledger, feedback, kpi-days, kpi-verbs,
    kpi-targets; formats: csv (a header row, then one row per record) or json (an array of objects)."""

    permission_classes = [IsAuthenticated, IsOperatorOrAnalyst, TokenHasScope]
    required_scopes = ["exports:read"]
    throttle_scope = None

    @extend_schema(
        operation_id="exports_retrieve",
        parameters=[
            OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, enum=sorted(exports.EXPORTS)),
            OpenApiParameter("fmt", OpenApiTypes.STR, OpenApiParameter.PATH, enum=sorted(exports.FORMATS)),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="CSV with a header row.",
                examples=[
                    OpenApiExample(
                        "members.csv",
                        value="id,display_name,user__email,status,segment,locale,time_zone,joined_at,left_at\n"
                        "42,Lin Mei,lin.mei@example.com,active,loyal,zh-hans,Asia/Shanghai,2026-01-05 08:00+00:00,\n",
                    )
                ],
            ),
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="An array of objects."),
            **error_responses(401, 403, 404),
        },
    )
    def get(self, request: Request, name: str, fmt: str) -> StreamingHttpResponse:
        found = exports.export_stream(name, fmt)
        if found is None:
            raise NotFound(_("No such export."))
        stream, content_type = found
        audit_record(actor=request.user, action="export.download", after={"export": name, "format": fmt})
        response = StreamingHttpResponse(stream, content_type=content_type)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="hearth-{name}-{stamp}.{fmt}"'
        response["Cache-Control"] = "no-store"
        return response
