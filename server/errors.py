"""The one error type services raise when they refuse something a person asked for.

A service decides *that* and *why* an action is refused, in the user's language; the web layer
decides how to show it (the form again with the message by its field, an error page, or JSON
for the outbox). The status says what kind of refusal it is, so the outbox knows whether to
retry (5xx), or to keep the item as "needs attention" (4xx), without parsing text.
"""

from __future__ import annotations

from server.i18n import gettext


class DomainError(ValueError):
    """A refusal: `message` is already translated; `field` names the form field it is about
    ("form" when it concerns the whole form); `status` is the HTTP status it maps to."""

    def __init__(self, message: str, *, status: int = 422, field: str = "form") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field

    def as_errors(self) -> dict[str, str]:
        """The form-errors mapping the templates show next to each field."""
        return {self.field: self.message}


class TooManyAttempts(DomainError):
    """A limit was reached (429); the message says when to try again where it can."""

    def __init__(self, message: str, *, field: str = "form") -> None:
        super().__init__(message, status=429, field=field)


def invalid_form_key_message() -> str:
    """What a person reads when a form's key (`client_id`) cannot stand for what they sent."""
    return gettext("表单编号无效，请刷新页面后重新提交")


def invalid_form_key() -> DomainError:
    """A form's idempotency key that came again with other content or from someone else: it
    answers only for what it first carried, never as a credential. 409, so the outbox keeps
    the item as needing attention."""
    return DomainError(invalid_form_key_message(), status=409)
