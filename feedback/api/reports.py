"""Reports (举报): members report feedback, replies or members; moderators see the open queue."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from community.api.permissions import HasMemberProfile
from community.api.views import error_responses
from community.errors import ServiceError
from feedback import selectors
from feedback import services as feedback_services
from feedback.api.common import SCOPES, is_moderator, refusal, viewer
from feedback.models import FeedbackItem, Reply, Report
from members.models import Member

# What the API lets members report, by name; other apps' content is reported through `report_file` directly.
TARGETS = {"feedback": FeedbackItem, "reply": Reply, "member": Member}


class ModerationReportSerializer(serializers.ModelSerializer):
    reason = serializers.CharField(read_only=True, help_text="spam, ads, abuse or other.")
    status = serializers.CharField(read_only=True, help_text="open, actioned or dismissed.")
    target_type = serializers.CharField(source="target_type.model", read_only=True)

    class Meta:
        model = Report
        fields = [
            "id",
            "reporter",
            "target_type",
            "target_id",
            "target_member",
            "target_excerpt",
            "reason",
            "note",
            "status",
            "created_at",
            "handled_at",
        ]
        read_only_fields = fields


class ModerationReportFileSerializer(serializers.Serializer):
    target_type = serializers.CharField(help_text="feedback, reply or member.")
    target_id = serializers.IntegerField()
    reason = serializers.CharField(help_text="spam, ads, abuse or other (other needs a note).")
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ReportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Moderators see every report; a member sees the reports they filed."""

    serializer_class = ModerationReportSerializer
    permission_classes = [IsAuthenticated]
    filterset_fields = ["status", "reason"]
    ordering_fields = ["created_at"]
    required_scopes = SCOPES

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Report.objects.none()
        if is_moderator(self.request.user):
            return Report.objects.select_related("target_type").order_by("-created_at", "-id")
        member, _is_operator = viewer(self.request)
        if member is None:
            return Report.objects.none()
        return selectors.reports_by_member(member=member)

    @extend_schema(responses={200: ModerationReportSerializer(many=True), **error_responses(400, 401, paginated=True)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: ModerationReportSerializer, **error_responses(401, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=ModerationReportFileSerializer,
        responses={201: ModerationReportSerializer, **error_responses(400, 401, 403)},
    )
    def create(self, request: Request) -> Response:
        """Report content or a member for breaking the rules."""
        member, is_operator = viewer(request)
        if member is None:
            raise PermissionDenied(HasMemberProfile.message)
        body = ModerationReportFileSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        model = TARGETS.get(body.validated_data["target_type"])
        if model is None:
            return Response({"target_type": ["Report feedback, a reply or a member."]}, status=400)
        target = self._target(model, body.validated_data["target_id"], member, is_operator)
        try:
            report = feedback_services.report_file(
                reporter=member,
                target=target,
                reason=body.validated_data["reason"],
                note=body.validated_data["note"],
            )
        except ServiceError as error:
            return refusal(error)
        report = Report.objects.select_related("target_type").get(pk=report.pk)
        return Response(ModerationReportSerializer(report).data, status=status.HTTP_201_CREATED)

    @staticmethod
    def _target(model: type, pk: int, member: Member, is_operator: bool) -> Any:
        visible_items = selectors.items_visible_to(member=member, is_operator=is_operator)
        if model is FeedbackItem:
            queryset = visible_items
        elif model is Reply:
            queryset = Reply.objects.filter(item__in=visible_items)
        else:
            queryset = Member.objects.all()
        target = queryset.filter(pk=pk).first()
        if target is None:
            raise NotFound(_("No such content to report."))
        return target


router = DefaultRouter()
router.include_root_view = False
router.register("reports", ReportViewSet, basename="report")

urlpatterns = router.urls
