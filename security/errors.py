"""Security failures: the error tree of ``security``.

    SecurityError
    ├── PathEscape          a path leaves its confining root
    ├── ForbiddenAddress    an address or bind host the configuration does not allow
    └── ProtectedResource   a path among the protected resources (database, secrets, backups)
"""

from __future__ import annotations


class SecurityError(Exception):
    """Root of every security refusal; the message is fit to show the owner."""


class PathEscape(SecurityError):
    """A path resolves outside the root it is confined to."""


class ForbiddenAddress(SecurityError):
    """A network address that is not allowed: private, loopback, or a public bind."""


class ProtectedResource(SecurityError):
    """A path no skill may read or touch."""
