"""Recruitment over the API: rounds (read), applications (create from integrations or by a member for themselves;
list, filter, retrieve and decide for operators), and the bulk upsert of usage metrics.

A member sees only their own applications: another member's id answers 404.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.conf import settings
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from community import roles
from community.api.permissions import HasMemberProfile, IsOperator
from community.api.views import error_responses
from members import selectors
from members.models import Application, Choice, Question, Round, RoundQuota
from members.services import applications as application_services
from members.services import decisions, usage
from members.services.accounts import member_ensure

# --- rounds ------------------------------------------------------------------------------------------------


class ChoiceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Choice
        fields = ["id", "label"]


class QuestionSerializer(serializers.ModelSerializer):
    choices = ChoiceSerializer(many=True, read_only=True)

    class Meta:
        model = Question
        fields = ["id", "position", "kind", "text", "help_text", "required", "scale_max", "choices"]


class QuotaSerializer(serializers.ModelSerializer):
    class Meta:
        model = RoundQuota
        fields = ["segment", "places"]


class RoundSerializer(serializers.ModelSerializer):
    questions = QuestionSerializer(many=True, read_only=True)
    is_open = serializers.SerializerMethodField()
    quotas = QuotaSerializer(many=True, read_only=True)
    accepted = serializers.SerializerMethodField(help_text="Accepted applications (operators only; null otherwise).")

    class Meta:
        model = Round
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "opens_at",
            "closes_at",
            "capacity",
            "is_open",
            "quotas",
            "accepted",
            "questions",
        ]

    def get_is_open(self, obj: Round) -> bool:
        return obj.is_open()

    def get_accepted(self, obj: Round) -> int | None:
        return getattr(obj, "accepted_count", None)


class RoundViewSet(viewsets.ReadOnlyModelViewSet):
    """Recruitment rounds with their questionnaire. Anyone sees the open rounds; operators see every round."""

    serializer_class = RoundSerializer
    permission_classes = [AllowAny]
    filterset_fields = ["slug"]
    ordering_fields = ["opens_at", "closes_at", "name"]

    def get_queryset(self):
        rounds = Round.objects.prefetch_related("questions__choices", "quotas").order_by("-opens_at", "id")
        if getattr(self, "swagger_fake_view", False) or roles.is_operator(self.request.user):
            return rounds.annotate(
                accepted_count=Count("applications", filter=Q(applications__status=Application.Status.ACCEPTED))
            )
        return rounds.filter(pk__in=selectors.rounds_open().values("pk"))

    @extend_schema(responses={200: RoundSerializer(many=True), **error_responses(400, paginated=True)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: RoundSerializer, **error_responses(404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)


# --- applications ------------------------------------------------------------------------------------------


class ScoreSerializer(serializers.Serializer):
    total = serializers.DecimalField(max_digits=10, decimal_places=2)
    questionnaire_score = serializers.DecimalField(max_digits=10, decimal_places=2)
    usage_score = serializers.DecimalField(max_digits=10, decimal_places=2)
    usage_percentile = serializers.FloatField()
    top_usage = serializers.BooleanField()
    knocked_out = serializers.BooleanField()
    breakdown = serializers.JSONField()
    computed_at = serializers.DateTimeField()


class ApplicationSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(source="member.display_name", read_only=True)
    language = serializers.CharField(read_only=True, help_text="The applicant's language: `en` or `zh-hans`.")
    score = serializers.SerializerMethodField(help_text="The scorecard (operators only; null for the applicant).")

    class Meta:
        model = Application
        fields = [
            "id",
            "round",
            "member",
            "display_name",
            "status",
            "stage",
            "segment",
            "language",
            "source",
            "submitted_at",
            "decided_at",
            "decision_reason",
            "score",
        ]
        read_only_fields = fields

    @extend_schema_field(ScoreSerializer(allow_null=True))
    def get_score(self, obj: Application) -> dict[str, Any] | None:
        if not self.context.get("operator"):
            return None
        card = getattr(obj, "scorecard", None)
        return ScoreSerializer(card).data if card is not None else None


class AnswerInputSerializer(serializers.Serializer):
    question = serializers.IntegerField()
    value = serializers.JSONField(help_text="A choice id, a list of choice ids, a number or a text.")


class ApplicationCreateSerializer(serializers.Serializer):
    round = serializers.PrimaryKeyRelatedField(queryset=Round.objects.all())
    email = serializers.EmailField(required=False, help_text="The applicant (operators and integrations only).")
    display_name = serializers.CharField(required=False, max_length=80, default="")
    locale = serializers.ChoiceField(choices=settings.LANGUAGES, required=False)
    answers = AnswerInputSerializer(many=True, required=False, default=list)


class DecideSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[s for s in Application.Status.values if s != Application.Status.SUBMITTED]
    )
    reason = serializers.ChoiceField(choices=Application.Reason.values, required=False, default="")
    note = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)
    interview_at = serializers.DateTimeField(required=False, help_text="With status `interview`: books it.")
    location = serializers.CharField(required=False, default="", allow_blank=True, max_length=255)


class ApplicationFilter(django_filters.FilterSet):
    min_score = django_filters.NumberFilter(field_name="scorecard__total", lookup_expr="gte")
    max_score = django_filters.NumberFilter(field_name="scorecard__total", lookup_expr="lte")
    top_usage = django_filters.BooleanFilter(field_name="scorecard__top_usage")
    knocked_out = django_filters.BooleanFilter(field_name="scorecard__knocked_out")

    class Meta:
        model = Application
        fields = ["round", "status", "segment", "source", "min_score", "max_score", "top_usage", "knocked_out"]


class ApplicationViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Applications. Operators list, filter, read and decide every application; a member reads only their own."""

    serializer_class = ApplicationSerializer
    permission_classes = [IsAuthenticated]
    filterset_class = ApplicationFilter
    ordering_fields = ["submitted_at", "scorecard__total", "status"]

    def get_queryset(self):
        queue = selectors.review_queue()
        if getattr(self, "swagger_fake_view", False) or roles.is_operator(self.request.user):
            return queue
        return queue.filter(member__user=self.request.user)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "operator": roles.is_operator(self.request.user)}

    @extend_schema(responses={200: ApplicationSerializer(many=True), **error_responses(400, 401, paginated=True)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: ApplicationSerializer, **error_responses(401, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=ApplicationCreateSerializer,
        responses={
            201: ApplicationSerializer,
            200: ApplicationSerializer,
            **error_responses(400, 401, 403),
        },
        description="Apply. An operator token (an integration pushing candidates) names the applicant by `email`, "
        "creating the account if needed; a member applies for themselves. Sending the same application again "
        "answers 200 with the application already made.",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = ApplicationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        operator = roles.is_operator(request.user)
        if operator:
            if not data.get("email"):
                raise serializers.ValidationError({"email": [_("Name the applicant by e-mail address.")]})
            applicant = application_services.applicant_ensure(
                email=data["email"],
                display_name=data.get("display_name", ""),
                locale=data.get("locale"),
                actor=request.user,
            )
        else:
            if not HasMemberProfile().has_permission(request, self):
                self.permission_denied(request, message=_("This account has no member profile."))
            applicant = member_ensure(user=request.user)
        result = application_services.application_submit(
            round=data["round"],
            member=applicant,
            answers={row["question"]: row["value"] for row in data["answers"]},
            actor=request.user,
            language=data.get("locale") or applicant.locale,
            source=Application.Source.API,
        )
        application = (
            self.get_queryset().model.objects.select_related("member", "scorecard").get(pk=result.application.pk)
        )
        output = ApplicationSerializer(application, context=self.get_serializer_context()).data
        return Response(output, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)

    @extend_schema(
        request=DecideSerializer,
        responses={200: ApplicationSerializer, **error_responses(400, 401, 403, 404)},
        description="Move an application on: screening, interview (optionally booking `interview_at`), accepted, "
        "waitlisted, rejected (a `reason` is required) or withdrawn. Accepting past capacity or a quota answers 400.",
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, IsOperator])
    def decide(self, request: Request, pk: str | None = None) -> Response:
        application = self.get_object()
        body = DecideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if data["status"] == Application.Status.INTERVIEW and data.get("interview_at"):
            decisions.interview_schedule(
                application=application,
                scheduled_at=data["interview_at"],
                location=data["location"],
                interviewer=request.user,
                actor=request.user,
            )
        else:
            decisions.application_decide(
                application=application,
                status=data["status"],
                reason=data["reason"],
                note=data["note"],
                actor=request.user,
            )
        application = self.get_queryset().get(pk=application.pk)
        return Response(ApplicationSerializer(application, context=self.get_serializer_context()).data)


# --- usage metrics -------------------------------------------------------------------------------------------


class UsageUpsertSerializer(serializers.Serializer):
    rows = serializers.ListField(child=serializers.DictField(), max_length=usage.MAX_ROWS, allow_empty=False)
    allow_partial = serializers.BooleanField(
        required=False, default=False, help_text="Import the valid rows even when some rows have problems."
    )


USAGE_REPORT = inline_serializer(
    "UsageUpsertReport",
    fields={
        "imported": serializers.IntegerField(),
        "counts": serializers.DictField(child=serializers.IntegerField()),
        "rows": serializers.ListField(child=serializers.DictField()),
    },
)


class UsageMetricUpsertView(APIView):
    """Bulk upsert of product-usage metrics for a round's applicants, matched by e-mail; a report per row."""

    permission_classes = [IsAuthenticated, IsOperator]

    @extend_schema(
        request=UsageUpsertSerializer,
        responses={200: USAGE_REPORT, 400: USAGE_REPORT, **error_responses(401, 403, 404)},
        description="Rows: `email`, `active_days_30` (0-30), `session_minutes`, `tenure_days`, `paid`, "
        "`willing_to_pay`, `content_created`. Unknown applicants, invalid rows and duplicates are reported row by "
        "row; when there is any, nothing is imported (400) unless `allow_partial` is true.",
    )
    def post(self, request: Request, pk: int) -> Response:
        round = get_object_or_404(Round, pk=pk)
        body = UsageUpsertSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        imported, report = usage.usage_metrics_upsert(
            round=round,
            rows=body.validated_data["rows"],
            actor=request.user,
            allow_partial=body.validated_data["allow_partial"],
        )
        answer = {"imported": imported, "counts": report.counts(), "rows": report.rows}
        failed = report.problems and not body.validated_data["allow_partial"]
        return Response(answer, status=status.HTTP_400_BAD_REQUEST if failed else status.HTTP_200_OK)
