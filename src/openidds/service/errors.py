"""What a use case can refuse with. The API maps each to one HTTP status; InputError (422) lives in the core."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # the field of the request it is about, when it is about one (a duplicate MRN: `mrn`)


class NotFound(ServiceError):
    """Also what a patient gets for another patient's record: its existence is not disclosed."""

    status = 404


class Forbidden(ServiceError):
    status = 403


class Unauthorized(ServiceError):
    status = 401


class Conflict(ServiceError):
    """Someone else changed the record first (optimistic version), or the step is out of order."""

    status = 409
