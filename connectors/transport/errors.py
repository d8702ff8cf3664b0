"""Errors raised by the partner transports.

Messages are for operators: Russian first, the English gist in parentheses. File-level problems
(a missing remote file, no permission) are raised as the ordinary ``FileNotFoundError`` /
``PermissionError`` / ``OSError`` and are never retried.
"""

from __future__ import annotations


class TransportError(Exception):
    """Base class of every transport error."""


class TransportConfigError(TransportError, ValueError):
    """The transport's configuration is incomplete or unsafe (e.g. no pinned host key)."""


class HostKeyError(TransportError):
    """The server's host key is unknown or differs from the pinned one. Never retried."""


class TransportAuthError(TransportError):
    """The server refused our key (or the key file cannot be read). Never retried."""


class TransportConnectionError(TransportError, ConnectionError):
    """The connection could not be made or kept after all retry attempts."""
