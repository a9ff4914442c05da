"""Errors of the AI layer. Each carries the HTTP status the API answers with.

AiError
├── ProviderUnavailable    no model configured: 503, names the env vars to set
├── QuotaExceeded          the user already has as many generations streaming as allowed (429)
├── ProviderError          the upstream answered an error or could not be reached (502);
│                          carries the upstream status (None without a response) and message
├── ProviderTimeout        no answer, or no next token, within the timeout (504)
└── StreamBroken           the stream ended mid-way, after the first token (502);
                           the caller keeps the text received so far

Retries happen only before the first token, so StreamBroken is never retried.
"""

from __future__ import annotations

CONFIG_ENV_VARS: tuple[str, ...] = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AI_MODEL")


class AiError(Exception):
    http_status: int = 500
    reason: str = "AI error"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.reason)
        self.detail = detail or self.reason


class ProviderUnavailable(AiError):
    http_status = 503
    reason = "no AI model is configured"

    def __init__(self, detail: str | None = None) -> None:
        hint = "set " + ", ".join(CONFIG_ENV_VARS)
        super().__init__(f"{detail or self.reason}; {hint}")
        self.env_vars = CONFIG_ENV_VARS


class QuotaExceeded(AiError):
    http_status = 429
    reason = "too many generations running"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"you have {limit} generations running, the most allowed at once;"
            " wait for one to finish or cancel one"
        )
        self.limit = limit


class ProviderError(AiError):
    http_status = 502
    reason = "the AI provider failed"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        prefix = f"upstream {status}" if status is not None else "upstream unreachable"
        super().__init__(f"{prefix}: {message}")
        self.status = status
        self.message = message


class ProviderTimeout(AiError):
    http_status = 504
    reason = "the AI provider timed out"


class StreamBroken(AiError):
    http_status = 502
    reason = "the AI stream ended mid-way"

    def __init__(self, detail: str | None = None, *, tokens_received: int = 0) -> None:
        super().__init__(detail)
        self.tokens_received = tokens_received
