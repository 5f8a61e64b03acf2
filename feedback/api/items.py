"""Feedback items: members submit and see public feedback and their own private items; operators triage,
reply, change status and merge. Another member's private item answers 404."""

from __future__ import annotations

from typing import Any

import django_filters
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from community.api.permissions import HasMemberProfile, IsOperator
from community.api.views import error_responses
from community.errors import ServiceError
from feedback import selectors
from feedback import services as feedback_services
from feedback.api.common import SCOPES, refusal, viewer
from feedback.models import Attachment, FeedbackItem, FeedbackStatus, Kind, ProductArea, Reply
from feedback.selectors import SORTS
from members.models import User

# --- serializers ------------------------------------------------------------------------------------------------


class FeedbackItemSerializer(serializers.ModelSerializer):
    # Plain strings with their values documented: enums named "kind"/"status" would clash with other apps' enums.
    kind = serializers.CharField(read_only=True, help_text="bug, idea, question, complaint or praise.")
    visibility = serializers.CharField(read_only=True, help_text="public or private.")
    source = serializers.CharField(read_only=True, help_text="portal, api or admin.")
    priority = serializers.IntegerField(read_only=True, help_text="0 low, 1 normal, 2 high, 3 urgent.")
    status = serializers.CharField(source="status.key", read_only=True, help_text="The status key, e.g. new, done.")
    status_name = serializers.CharField(source="status.display_name", read_only=True)
    area_name = serializers.CharField(source="area.name", read_only=True, default=None, allow_null=True)
    author_name = serializers.CharField(source="author.display_name", read_only=True)
    body_html = serializers.CharField(read_only=True, help_text="The description rendered from Markdown, sanitised.")
    has_voted = serializers.BooleanField(read_only=True, default=False)
    is_subscribed = serializers.BooleanField(read_only=True, default=False)

    class Meta:
        model = FeedbackItem
        fields = [
            "id",
            "kind",
            "title",
            "body",
            "body_html",
            "area",
            "area_name",
            "status",
            "status_name",
            "priority",
            "visibility",
            "source",
            "author",
            "author_name",
            "assignee",
            "vote_count",
            "impact_score",
            "has_voted",
            "is_subscribed",
            "merged_into",
            "app_version",
            "device",
            "page_url",
            "created_at",
            "updated_at",
            "first_response_at",
            "resolved_at",
        ]
        read_only_fields = fields


class FeedbackCreateSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="bug, idea, question, complaint or praise.")
    title = serializers.CharField(help_text="3 to 200 characters.", trim_whitespace=True)
    body = serializers.CharField(help_text="Markdown, up to 20,000 characters; rendered sanitised.")
    area = serializers.PrimaryKeyRelatedField(
        queryset=ProductArea.objects.filter(is_active=True), required=False, allow_null=True
    )
    visibility = serializers.CharField(required=False, default="public", help_text="public (default) or private.")
    app_version = serializers.CharField(required=False, allow_blank=True, default="")
    device = serializers.CharField(required=False, allow_blank=True, default="")
    page_url = serializers.CharField(required=False, allow_blank=True, default="", help_text="An http(s) address.")


class FeedbackUpdateSerializer(serializers.Serializer):
    """The submitter may change the title and body; operators the triage fields."""

    title = serializers.CharField(required=False)
    body = serializers.CharField(required=False)
    priority = serializers.IntegerField(required=False, help_text="Operators: 0 low, 1 normal, 2 high, 3 urgent.")
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_staff=True), required=False, allow_null=True, help_text="Operators."
    )
    area = serializers.PrimaryKeyRelatedField(
        queryset=ProductArea.objects.all(), required=False, allow_null=True, help_text="Operators."
    )
    visibility = serializers.CharField(required=False, help_text="Operators: public or private.")


class FeedbackStatusChangeSerializer(serializers.Serializer):
    status = serializers.SlugRelatedField(slug_field="key", queryset=FeedbackStatus.objects.filter(is_active=True))
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class FeedbackMergeSerializer(serializers.Serializer):
    original = serializers.PrimaryKeyRelatedField(
        queryset=FeedbackItem.objects.all(), help_text="The item this one duplicates."
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=400)


class FeedbackReplySerializer(serializers.ModelSerializer):
    author_name = serializers.CharField(source="author.display_name", read_only=True, default=None, allow_null=True)
    body_html = serializers.CharField(read_only=True)

    class Meta:
        model = Reply
        fields = ["id", "item", "author", "author_name", "body", "body_html", "created_at"]
        read_only_fields = ["id", "item", "author", "author_name", "body_html", "created_at"]


class FeedbackReplyBodySerializer(serializers.Serializer):
    body = serializers.CharField(help_text="Markdown, shown to members.")


class FeedbackAttachmentSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text="image or log.")

    class Meta:
        model = Attachment
        fields = ["id", "item", "kind", "original_name", "content_type", "size", "width", "height", "created_at"]
        read_only_fields = fields


class FeedbackAttachmentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A PNG, JPEG, GIF or WebP image, or a .log/.txt file; at most 10 MB.")


class FeedbackStatusSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(read_only=True)
    decision = serializers.CharField(read_only=True, help_text="accepted, declined or empty.")

    class Meta:
        model = FeedbackStatus
        fields = ["key", "name", "display_name", "order", "is_default", "decision", "is_closed", "is_duplicate"]
        read_only_fields = fields


VOTE_RESULT = inline_serializer(
    "FeedbackVoteResult", fields={"voted": serializers.BooleanField(), "vote_count": serializers.IntegerField()}
)
SUBSCRIPTION_RESULT = inline_serializer("FeedbackSubscriptionResult", fields={"subscribed": serializers.BooleanField()})


# --- filters ----------------------------------------------------------------------------------------------------


class FeedbackFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Kind.choices)
    status = django_filters.CharFilter(field_name="status__key")
    area = django_filters.NumberFilter(field_name="area_id")
    visibility = django_filters.ChoiceFilter(choices=FeedbackItem.Visibility.choices)
    mine = django_filters.BooleanFilter(method="filter_mine", label="Only my feedback")
    q = django_filters.CharFilter(field_name="title", lookup_expr="icontains", label="Title contains")
    sort = django_filters.ChoiceFilter(
        method="filter_sort", choices=[(key, key) for key in SORTS], label="votes (default), impact or new"
    )

    class Meta:
        model = FeedbackItem
        fields = ["kind", "status", "area", "visibility", "mine", "q", "sort"]

    def filter_mine(self, queryset, name, value):
        member = getattr(self.request.user, "member", None)
        return queryset.filter(author_id=member.pk) if value and member is not None else queryset

    def filter_sort(self, queryset, name, value):
        return queryset.order_by(*SORTS.get(value, SORTS["votes"]))


# --- views ------------------------------------------------------------------------------------------------------


class FeedbackItemViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Feedback. Members see public items and their own private ones; operators see everything."""

    serializer_class = FeedbackItemSerializer
    permission_classes = [IsAuthenticated]
    filterset_class = FeedbackFilter
    ordering_fields = ["vote_count", "impact_score", "created_at"]
    required_scopes = SCOPES

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return FeedbackItem.objects.none()
        member, is_operator = viewer(self.request)
        return selectors.feedback_list(
            member=member, is_operator=is_operator, include_merged=self.action != "list"
        ).select_related("merged_into")

    def _item(self) -> FeedbackItem:
        return self.get_object()

    @extend_schema(responses={200: FeedbackItemSerializer(many=True), **error_responses(400, 401, paginated=True)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: FeedbackItemSerializer, **error_responses(401, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=FeedbackCreateSerializer,
        responses={201: FeedbackItemSerializer, **error_responses(400, 401, 403)},
    )
    def create(self, request: Request) -> Response:
        """Submit feedback as the signed-in member (an integration passes app version, device and page URL)."""
        member, _is_operator = viewer(request)
        if member is None:
            raise PermissionDenied(HasMemberProfile.message)
        body = FeedbackCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            item = feedback_services.item_submit(
                author=member, source=FeedbackItem.Source.API, actor=request.user, **body.validated_data
            )
        except ServiceError as error:
            return refusal(error)
        return Response(self._fresh(item), status=status.HTTP_201_CREATED)

    def _fresh(self, item: FeedbackItem) -> dict[str, Any]:
        member, is_operator = viewer(self.request)
        row = selectors.feedback_detail(pk=item.pk, member=member, is_operator=is_operator)
        return FeedbackItemSerializer(row, context=self.get_serializer_context()).data

    @extend_schema(
        request=FeedbackUpdateSerializer, responses={200: FeedbackItemSerializer, **error_responses(400, 401, 403, 404)}
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        """The submitter edits the title or body; operators change priority, assignee, area or visibility."""
        item = self._item()
        member, is_operator = viewer(request)
        # Who may change what is decided before the values are looked at: a member never learns which ids exist.
        if not is_operator and any(key in request.data for key in ("priority", "assignee", "area", "visibility")):
            raise PermissionDenied(_("Only operators may triage feedback."))
        body = FeedbackUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        triage = {key: data[key] for key in ("priority", "assignee", "area", "visibility") if key in data}
        content = {key: data[key] for key in ("title", "body") if key in data}
        if triage and not is_operator:
            raise PermissionDenied(_("Only operators may triage feedback."))
        if content and (member is None or item.author_id != member.pk):
            raise PermissionDenied(_("Only the submitter may edit the title and description."))
        try:
            if content:
                item = feedback_services.item_edit(item=item, actor=request.user, **content)
            if triage:
                item = feedback_services.item_triage(item=item, actor=request.user, **triage)
        except ServiceError as error:
            return refusal(error)
        return Response(self._fresh(item))

    @extend_schema(request=None, responses={204: None, **error_responses(400, 401, 403, 404)})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        """Operators delete an item (spam, test data); the audit log keeps a copy."""
        if not viewer(request)[1]:
            raise PermissionDenied(_("Only operators may delete feedback."))
        try:
            feedback_services.item_delete(item=self._item(), actor=request.user)
        except ServiceError as error:
            return refusal(error)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: VOTE_RESULT, 201: VOTE_RESULT, **error_responses(400, 401, 403, 404)})
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, HasMemberProfile], filterset_class=None)
    def vote(self, request: Request, pk: str | None = None) -> Response:
        """+1 someone else's feedback; voting again changes nothing (200)."""
        item = self._item()
        try:
            created = feedback_services.vote_add(item=item, member=request.user.member)
        except ServiceError as error:
            return refusal(error)
        item.refresh_from_db(fields=["vote_count"])
        return Response(
            {"voted": True, "vote_count": item.vote_count}, status=status.HTTP_201_CREATED if created else 200
        )

    @extend_schema(request=None, responses={200: VOTE_RESULT, **error_responses(401, 403, 404)})
    @vote.mapping.delete
    def unvote(self, request: Request, pk: str | None = None) -> Response:
        """Take your vote back."""
        item = self._item()
        feedback_services.vote_remove(item=item, member=request.user.member)
        item.refresh_from_db(fields=["vote_count"])
        return Response({"voted": False, "vote_count": item.vote_count})

    @extend_schema(request=None, responses={200: SUBSCRIPTION_RESULT, **error_responses(400, 401, 403, 404)})
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, HasMemberProfile], filterset_class=None)
    def subscribe(self, request: Request, pk: str | None = None) -> Response:
        """Follow replies and status changes of this item."""
        try:
            feedback_services.subscription_add(item=self._item(), member=request.user.member)
        except ServiceError as error:
            return refusal(error)
        return Response({"subscribed": True})

    @extend_schema(request=None, responses={200: SUBSCRIPTION_RESULT, **error_responses(401, 403, 404)})
    @subscribe.mapping.delete
    def unsubscribe(self, request: Request, pk: str | None = None) -> Response:
        feedback_services.subscription_remove(item=self._item(), member=request.user.member)
        return Response({"subscribed": False})

    @extend_schema(
        request=FeedbackStatusChangeSerializer,
        responses={200: FeedbackItemSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], url_path="status", permission_classes=[IsAuthenticated, IsOperator])
    def change_status(self, request: Request, pk: str | None = None) -> Response:
        """Operators: move the item to another status; followers are notified."""
        item = self._item()
        body = FeedbackStatusChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            item = feedback_services.item_status_change(item=item, actor=request.user, **body.validated_data)
        except ServiceError as error:
            return refusal(error)
        return Response(self._fresh(item))

    @extend_schema(
        request=FeedbackMergeSerializer, responses={200: FeedbackItemSerializer, **error_responses(400, 401, 403, 404)}
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, IsOperator], filterset_class=None)
    def merge(self, request: Request, pk: str | None = None) -> Response:
        """Operators: merge this item (a duplicate) into `original`. Answers with the original."""
        item = self._item()
        body = FeedbackMergeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            original = feedback_services.item_merge(
                duplicate=item,
                original=body.validated_data["original"],
                actor=request.user,
                note=body.validated_data["note"],
            )
        except ServiceError as error:
            return refusal(error)
        return Response(self._fresh(original))

    @extend_schema(
        methods=["GET"], request=None, responses={200: FeedbackReplySerializer(many=True), **error_responses(401, 404)}
    )
    @extend_schema(
        methods=["POST"],
        request=FeedbackReplyBodySerializer,
        responses={201: FeedbackReplySerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, filterset_class=None)
    def replies(self, request: Request, pk: str | None = None) -> Response:
        """The public replies, oldest first; operators post one (followers are notified)."""
        item = self._item()
        if request.method == "GET":
            rows = Reply.objects.filter(item=item).select_related("author").order_by("created_at", "id")
            return Response(FeedbackReplySerializer(rows, many=True).data)
        member, is_operator = viewer(request)
        if not is_operator or member is None:
            raise PermissionDenied(_("Only operators reply to feedback."))
        body = FeedbackReplyBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            reply = feedback_services.reply_post(
                item=item, author=member, body=body.validated_data["body"], actor=request.user
            )
        except ServiceError as error:
            return refusal(error)
        return Response(FeedbackReplySerializer(reply).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request={"multipart/form-data": FeedbackAttachmentUploadSerializer},
        responses={201: FeedbackAttachmentSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(
        detail=True,
        methods=["post"],
        parser_classes=[MultiPartParser, FormParser],
        permission_classes=[IsAuthenticated, HasMemberProfile],
        filterset_class=None,
    )
    def attachments(self, request: Request, pk: str | None = None) -> Response:
        """The submitter adds a screenshot or log (checked by content, size-limited, never executed)."""
        item = self._item()
        member, is_operator = viewer(request)
        if item.author_id != member.pk and not is_operator:
            raise PermissionDenied(_("Only the submitter may attach files."))
        upload = request.FILES.get("file")
        if upload is None:
            return Response({"file": ["Attach a file."]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            attachment = feedback_services.attachment_add(item=item, member=member, upload=upload, actor=request.user)
        except ServiceError as error:
            return refusal(error)
        return Response(FeedbackAttachmentSerializer(attachment).data, status=status.HTTP_201_CREATED)


class FeedbackStatusViewSet(viewsets.ReadOnlyModelViewSet):
    """The configured statuses, in triage order."""

    serializer_class = FeedbackStatusSerializer
    permission_classes = [IsAuthenticated]
    pagination_class = None
    lookup_field = "key"
    required_scopes = SCOPES
    filterset_class = None
    ordering_fields: list[str] = []

    def get_queryset(self):
        return selectors.status_list()

    @extend_schema(responses={200: FeedbackStatusSerializer(many=True), **error_responses(401)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: FeedbackStatusSerializer, **error_responses(401, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)


router = DefaultRouter()
router.include_root_view = False
router.register("feedback", FeedbackItemViewSet, basename="feedback")
router.register("feedback-statuses", FeedbackStatusViewSet, basename="feedback-status")

urlpatterns = router.urls
