"""The people every gate tries each route as, and what `member` owns for them to try to reach."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from community import roles
from tests.factories import MemberFactory, staff_member
from tests.security.routes import route_modules


@dataclass
class World:
    member: Any
    other_member: Any
    moderator: Any
    operator: Any
    # Written into whatever `member` owns that has text: no other member may ever be shown it.
    secret: str
    objects: dict[str, Any] = field(default_factory=dict)

    def persona(self, name: str) -> Any:
        return None if name == "anonymous" else getattr(self, name)

    def client_for(self, name: str) -> Client:
        client = Client()
        if name != "anonymous":
            client.force_login(self.persona(name).user)
        return client

    def value(self, key: str) -> Any:
        try:
            found = self.objects[key]
        except KeyError:
            raise AssertionError(f"no object {key!r}: add it to an `objects(world)` function in routes/") from None
        return getattr(found, "pk", found)


def build_world() -> World:
    world = World(
        member=MemberFactory(display_name="Lin Mei"),
        other_member=MemberFactory(display_name="Zhang Wei"),
        moderator=staff_member(roles.MODERATOR, display_name="Mo Moderator"),
        operator=staff_member(roles.OPERATOR, display_name="Olga Operator"),
        secret=f"s3cret-{uuid.uuid4().hex[:12]}",
    )
    modules = route_modules()
    # The shared pieces first: other apps' objects may build on them.
    for name in sorted(modules, key=lambda name: (name != "community", name != "members", name)):
        make = getattr(modules[name], "objects", None)
        if make is not None:
            world.objects.update(make(world))
    return world


@pytest.fixture
def world(db) -> World:
    return build_world()


@pytest.fixture(scope="module")
def shared_world(django_db_setup, django_db_blocker):
    """One world for a whole module (building it is the slow part); each test still runs in its own savepoint."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)
