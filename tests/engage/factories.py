"""Factories for the engagement app's models."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from engage.models import Answer, Article, Event, KnowledgeCategory, Question, Topic
from tests.factories import MemberFactory


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    title = factory.Sequence(lambda n: f"Meetup {n}")
    kind = Event.Kind.MEETUP
    status = Event.Status.PUBLISHED
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=3))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(hours=2))
    capacity = 10
    location = "Shanghai office"


class TopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Topic

    title = factory.Sequence(lambda n: f"Topic {n}")
    body = "What do you think about **dark mode**?"


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Question

    member = factory.SubFactory(MemberFactory)
    title = factory.Sequence(lambda n: f"How do I do thing {n}?")
    body = "Details."


class AnswerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Answer

    question = factory.SubFactory(QuestionFactory)
    member = factory.SubFactory(MemberFactory)
    body = "Like this."


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KnowledgeCategory

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class ArticleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Article

    category = factory.SubFactory(CategoryFactory)
    title = factory.Sequence(lambda n: f"Article {n}")
    body = "How to reset your password."
