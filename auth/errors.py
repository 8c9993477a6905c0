"""Errors of the auth services; the HTTP layers map them to their own envelopes."""

from __future__ import annotations


class AuthError(Exception):
    code = "UNKNOWN"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(AuthError):
    code, status = "BAD_REQUEST", 400


class Unauthorized(AuthError):
    code, status = "UNAUTHORIZED", 401


class Forbidden(AuthError):
    code, status = "FORBIDDEN", 403


class NotFound(AuthError):
    code, status = "NOT_FOUND", 404


class AlreadyExists(AuthError):
    code, status = "CONFLICT", 409


class Precondition(AuthError):
    code, status = "PRECONDITION", 412


class Unavailable(AuthError):
    """An authority sign-in depends on (the LDAP directory, the OIDC provider) could not
    be asked: the caller gets 503 and may retry; the reason is logged, not returned."""

    code, status = "UNAVAILABLE", 503
