"""REST endpoints of the members app: members and profiles (`members`), recruitment (`recruitment`)."""

from members.api.members import MemberViewSet

__all__ = ["MemberViewSet"]
