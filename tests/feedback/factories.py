"""Factories for feedback tests."""

from __future__ import annotations

import importlib
import io
from types import SimpleNamespace

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from feedback.models import FeedbackItem, FeedbackStatus, ProductArea, Survey, SurveyQuestion
from tests.factories import MemberFactory


def status(key: str) -> FeedbackStatus:
    return FeedbackStatus.objects.get(key=key)


class ProductAreaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductArea
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Area {n}")


class FeedbackItemFactory(factory.django.DjangoModelFactory):
    """A stored item without going through the service (for reads); tests of writes call `item_submit`."""

    class Meta:
        model = FeedbackItem

    author = factory.SubFactory(MemberFactory)
    kind = "idea"
    title = factory.Sequence(lambda n: f"Feedback number {n}")
    body = "Some words."
    status = factory.LazyFunction(lambda: default_status())


def default_status() -> FeedbackStatus:
    """The shipped default status. A transactional test elsewhere may have flushed the rows the data migration
    installed; then the migration's own installer puts them back."""
    status = FeedbackStatus.objects.filter(is_default=True).first()
    if status is None:
        from django.apps import apps

        migration = importlib.import_module("feedback.migrations.0002_default_statuses_and_search")
        # Only the rows: the flush left the search index (the migration's other step) in place.
        migration.install(apps, SimpleNamespace(connection=SimpleNamespace(vendor="rows-only")))
        status = FeedbackStatus.objects.get(is_default=True)
    return status


class SurveyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Survey

    title = factory.Sequence(lambda n: f"Survey {n}")
    is_published = True


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SurveyQuestion

    survey = factory.SubFactory(SurveyFactory)
    kind = SurveyQuestion.Kind.NPS
    prompt = "How likely are you to recommend us?"


def png_upload(name: str = "screenshot.png", size: tuple[int, int] = (8, 8)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 80, 20)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="JPEG")
    return buffer.getvalue()
