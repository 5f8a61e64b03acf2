"""Write paths of the members app: accounts and profiles, recruitment and screening, segmentation, leaving."""

from members.services.accounts import (
    PROFILE_FIELDS,
    member_create,
    member_ensure,
    member_profile_update,
    member_remove,
    member_tags_set,
)

__all__ = [
    "PROFILE_FIELDS",
    "member_create",
    "member_ensure",
    "member_profile_update",
    "member_remove",
    "member_tags_set",
]
