"""Storage errors.

StorageError
├── NotFound          no such row
├── Conflict          a unique constraint refused the write
└── DatabaseUnavailable   the database could not be reached or started
"""

from __future__ import annotations


class StorageError(Exception):
    pass


class NotFound(StorageError):
    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key} not found")
        self.kind = kind


class Conflict(StorageError):
    pass


class DatabaseUnavailable(StorageError):
    pass
