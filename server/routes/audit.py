"""Placeholder: being written."""

from __future__ import annotations

from server.api import Api

api = Api()
