from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from community import roles
from members.models import User
from members.services import member_ensure


class Command(BaseCommand):
    help = "Create the operator account if it does not exist, and print how to sign in."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--email", default="operator@example.com")
        parser.add_argument("--password", default=None, help="Default: a new random password (printed once).")

    def handle(self, *args: Any, email: str, password: str | None, **options: Any) -> None:
        from allauth.account.models import EmailAddress
        from django.contrib.auth.models import Group

        with transaction.atomic():
            roles.roles_sync()
            user = User.objects.filter(email__iexact=email).first()
            created = user is None
            if created:
                password = password or secrets.token_urlsafe(12)
                user = User.objects.create_superuser(email=email, password=password)
            elif password:
                user.set_password(password)
                user.save(update_fields=["password"])
            user.groups.add(Group.objects.get(name=roles.OPERATOR))
            EmailAddress.objects.update_or_create(
                user=user, email=user.email, defaults={"verified": True, "primary": True}
            )
            member_ensure(user=user)
        if created or password:
            self.stdout.write(self.style.SUCCESS(f"Operator account: {email} / password: {password}"))
        else:
            self.stdout.write(f"Operator account {email} exists (pass --password to reset its password).")
        self.stdout.write("Sign in at /accounts/login/ ; the operator dashboard is at /admin/")
