"""Redaction of known secret values (bot tokens, webhook secrets, API keys) in text and logs."""

import logging
from collections.abc import Iterable
from urllib.parse import quote

REDACTED = "[REDACTED]"
MIN_SECRET_CHARS = 8  # shorter values would redact ordinary words


class Redactor:
    """Replaces known secret values in text, also in their URL-quoted form."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {s for s in secrets if len(s) >= MIN_SECRET_CHARS}
        values |= {quote(s, safe="") for s in values}  # as it appears inside a URL
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


class RedactingFilter(logging.Filter):
    """A handler filter that redacts secrets in messages, arguments and tracebacks."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        if not self.redact.secrets:
            return True
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when set, so the redacted traceback is what gets printed.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True
