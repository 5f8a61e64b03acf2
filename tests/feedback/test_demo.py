"""The demo seed: items, votes, replies, a merged duplicate and a closed NPS survey with responses."""

from __future__ import annotations

import random

import pytest
from django.utils import timezone

from feedback import demo, selectors
from feedback.models import FeedbackItem, Reply, Survey, Vote
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_the_demo_seed_fills_every_part():
    members = [MemberFactory() for _ in range(30)]

    line = demo.seed(rng=random.Random(7), members=members)

    assert line.startswith("feedback: ")
    assert FeedbackItem.objects.count() == 36
    assert Vote.objects.exists() and Reply.objects.exists()
    assert FeedbackItem.objects.filter(merged_into__isnull=False).count() == 1
    survey = Survey.objects.get()
    assert survey.closes_at < timezone.now()
    results = selectors.survey_results(survey=survey)
    assert results["responses"] == 30 and results["questions"][0]["nps"] is not None
    for item in FeedbackItem.objects.all():
        assert item.vote_count == item.votes.count()
