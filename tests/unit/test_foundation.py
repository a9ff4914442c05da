from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.auth.passwords import password_problems
from server.auth.ratelimit import MemoryRateLimiter
from server.settings import Settings
from server.workflow.template import Template, default_template


def test_default_template_is_valid() -> None:
    template = default_template()
    assert len(template.phases) == 14
    assert len({p.key for p in template.phases}) == 14
    assert all(d < p.number for p in template.phases for d in p.depends_on)


def _template(depends: dict[int, list[int]]) -> dict[str, object]:
    phases = [
        {
            "number": n,
            "key": f"p{n}",
            "title": "t",
            "description": "",
            "guidance": "",
            "depends_on": depends.get(n, []),
        }
        for n in range(1, 15)
    ]
    return {"key": "k", "version": 1, "title": "t", "phases": phases}


def test_template_rejects_forward_and_self_references() -> None:
    with pytest.raises(ValidationError):
        Template.model_validate(_template({3: [4]}))
    with pytest.raises(ValidationError):
        Template.model_validate(_template({5: [5]}))
    ok = Template.model_validate(_template({2: [1], 3: [2], 4: [1, 3]}))
    assert ok.dependants(1) == [2, 3, 4]
    assert ok.dependants(2) == [3, 4]


def test_password_rules() -> None:
    assert password_problems("Correct-horse-battery", "a@b.com") == []
    assert password_problems("short", "a@b.com")
    assert password_problems("Password123", "a@b.com")
    assert password_problems("alice.smith-2024!", "alice.smith@b.com")


async def test_rate_limiter_counts_per_key() -> None:
    limiter = MemoryRateLimiter(limit=2, window_s=60)
    assert await limiter.hit("a") == 0
    assert await limiter.hit("a") == 0
    assert await limiter.hit("a") > 0
    assert await limiter.hit("b") == 0


def test_production_settings_need_secrets() -> None:
    with pytest.raises(ValidationError):
        Settings(env="production", database_url=None, jwt_secret=None)
    Settings(env="production", database_url="postgresql://x/y", jwt_secret="s" * 40)
