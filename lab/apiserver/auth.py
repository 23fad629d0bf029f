"""Bearer-token authentication of the lab API server.

``labctl`` writes a random token to the emulator's state dir (``STATE_DIR/token``, 0600) and into the kubeconfig it
writes, so helm, kubectl and the Python client send it. A request whose bearer token is not the lab's gets
401 Unauthorized, as a real API server answers an expired or wrong token. A request without credentials is
anonymous and allowed (the lab has no RBAC); the lab's own ``/_lab/`` endpoints need no token. An emulator started
without a token file (``lab/tests``) accepts every request.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from pathlib import Path

TOKEN_FILE = 'token'
_token: str | None = None


def configure(state_dir: Path) -> None:
    """Read the lab's token from ``state_dir``/token (no file: no authentication)."""
    global _token
    path = state_dir / TOKEN_FILE
    _token = path.read_text(encoding='utf-8').strip() if path.exists() else None


def authorized(headers: Mapping[str, str]) -> bool:
    """True when the request may proceed: no token configured, no credentials (anonymous), or the lab's token."""
    if not _token:
        return True
    value = headers.get('Authorization')
    if value is None:
        return True
    scheme, _, credential = value.partition(' ')
    return scheme.lower() == 'bearer' and hmac.compare_digest(credential.strip().encode(), _token.encode())
