from __future__ import annotations


class ServiceError(Exception):
    """A request a service refuses for a reason the person can act on; shown as a form error or a 400."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code

    def as_dict(self) -> dict[str, list[str]]:
        return {self.field or "non_field_errors": [self.message]}
