"""Who may call the emulator: the lab's static bearer token, or an EKS token checked against (moto's) STS.

``authorized(headers) -> bool`` is the one entry point (server.py calls it for every API request).

* No credential configured (neither a static token nor an STS endpoint): every request is allowed (the
  emulator's historical behaviour, used by unit tests that start it bare).
* ``Authorization: Bearer <static token>``: allowed when it equals the configured static token.
* ``Authorization: Bearer k8s-aws-v1.<base64url of a presigned URL>``: the token ``aws eks get-token`` (and
  aws-iam-authenticator) makes. Checked as EKS does: the URL is an STS ``GetCallerIdentity`` presigned with SigV4,
  ``x-k8s-aws-id`` among its signed headers, not older than 15 minutes; then the emulator calls the URL,
  rewritten to the configured STS endpoint (the lab's moto server), with ``x-k8s-aws-id: <cluster name>``, and
  accepts on 200 with a caller ARN. The ARN is mapped to a user name (the IAM user or role session name), which is
  logged. Good tokens are cached until they expire, so one STS call serves a kubectl/helm run.
* ``/version``, ``/healthz``, ``/livez``, ``/readyz`` stay anonymous (as EKS's ``system:public-info-viewer``).
* Without an STS endpoint (the default http cluster), a request with no ``Authorization`` header is anonymous and
  allowed (client-go sends no bearer token over plain http; the lab has no RBAC); a wrong token gets 401, as a real
  API server answers an expired or wrong token. EKS-profile clusters (https) refuse anonymous requests.

Limit: moto does not verify SigV4 signatures, so a token presigned for another cluster name is only refused when
its signed headers lack ``x-k8s-aws-id`` (EKS would also refuse the signature).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Mapping

log = logging.getLogger('lab.apiserver.auth')

EKS_PREFIX = 'k8s-aws-v1.'
TOKEN_LIFETIME = 15 * 60          # seconds; aws-iam-authenticator's presigned URL lifetime
CLOCK_SKEW = 5 * 60
ANONYMOUS_PATHS = frozenset({'/version', '/healthz', '/livez', '/readyz'})
STS_HOST = re.compile(r'^sts(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?$')
ARN = re.compile(r'<Arn>([^<]+)</Arn>|"Arn"\s*:\s*"([^"]+)"')


@dataclass
class AuthConfig:
    static_token: str | None = None
    sts_url: str | None = None        # e.g. http://127.0.0.1:5055 (moto); None: EKS tokens are refused
    cluster_name: str = 'lab'
    cache: dict[str, tuple[float, str]] = field(default_factory=dict)  # token -> (expiry, user)

    @property
    def enabled(self) -> bool:
        return bool(self.static_token or self.sts_url)


CONFIG = AuthConfig()


def configure(static_token: str | None = None, sts_url: str | None = None, cluster_name: str = 'lab') -> None:
    """Set what ``authorized`` accepts (called once by ``__main__``)."""
    global CONFIG  # pylint: disable=global-statement
    CONFIG = AuthConfig(static_token or None, (sts_url or '').rstrip('/') or None, cluster_name)


def authorized(headers: Mapping[str, str], path: str = '') -> bool:
    """Whether a request with these headers (to ``path``) is authenticated."""
    if not CONFIG.enabled or path.rstrip('/') in ANONYMOUS_PATHS:
        return True
    if headers.get('Authorization') is None and not CONFIG.sts_url:
        return True  # anonymous: client-go sends no token over plain http, and the lab has no RBAC
    scheme, _, token = (headers.get('Authorization') or '').partition(' ')
    token = token.strip()
    if scheme.lower() != 'bearer' or not token:
        return False
    if CONFIG.static_token and token == CONFIG.static_token:
        return True
    if token.startswith(EKS_PREFIX) and CONFIG.sts_url:
        return eks_user(token) is not None
    return False


def eks_user(token: str, now: float | None = None) -> str | None:
    """The user an EKS token authenticates as, or None (reason logged)."""
    now = time.time() if now is None else now
    cached = CONFIG.cache.get(token)
    if cached and cached[0] > now:
        return cached[1]
    try:
        url, expiry = parse_eks_token(token, CONFIG.cluster_name, now)
        arn = caller_arn(url, CONFIG.sts_url or '', CONFIG.cluster_name)
    except ValueError as exc:
        log.info('EKS token refused: %s', exc)
        return None
    user = user_name(arn)
    CONFIG.cache[token] = (expiry, user)
    log.info('EKS token accepted: %s (user %s)', arn, user)
    return user


def parse_eks_token(token: str, cluster_name: str, now: float) -> tuple[urllib.parse.SplitResult, float]:
    """Check the token's shape as EKS does; return the presigned URL and when the token expires."""
    encoded = token[len(EKS_PREFIX):]
    try:
        raw = base64.urlsafe_b64decode(encoded + '=' * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f'not base64url: {exc}') from None
    url = urllib.parse.urlsplit(raw)
    query = {k.lower(): v for k, v in urllib.parse.parse_qsl(url.query)}
    if url.scheme not in ('https', 'http') or url.path not in ('', '/'):
        raise ValueError(f'not an STS URL: {url.scheme}://{url.netloc}{url.path}')
    if not (STS_HOST.match(url.hostname or '') or same_endpoint(url, CONFIG.sts_url)):
        raise ValueError(f'not an STS host: {url.hostname}')
    if query.get('action') != 'GetCallerIdentity':
        raise ValueError(f"action is {query.get('action')!r}, not GetCallerIdentity")
    if query.get('x-amz-algorithm') != 'AWS4-HMAC-SHA256' or not (query.get('x-amz-signature')
                                                                  and query.get('x-amz-credential')):
        raise ValueError('not a SigV4 presigned URL')
    signed = query.get('x-amz-signedheaders', '').split(';')
    if 'x-k8s-aws-id' not in signed:
        raise ValueError('x-k8s-aws-id (the cluster name) is not a signed header')
    try:
        signed_at = datetime.datetime.strptime(query.get('x-amz-date', ''), '%Y%m%dT%H%M%SZ').replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        raise ValueError(f"bad X-Amz-Date {query.get('x-amz-date')!r}") from None
    if signed_at > now + CLOCK_SKEW:
        raise ValueError('signed in the future')
    if now - signed_at > TOKEN_LIFETIME:
        raise ValueError(f'expired: signed {int(now - signed_at)} s ago (tokens live {TOKEN_LIFETIME} s)')
    del cluster_name  # sent to STS as the signed x-k8s-aws-id header (see caller_arn)
    return url, signed_at + TOKEN_LIFETIME


def same_endpoint(url: urllib.parse.SplitResult, endpoint: str | None) -> bool:
    return bool(endpoint) and url.netloc == urllib.parse.urlsplit(endpoint).netloc


def caller_arn(url: urllib.parse.SplitResult, sts_url: str, cluster_name: str) -> str:
    """Call the presigned URL at the lab's STS endpoint; the caller's ARN on 200."""
    target = urllib.parse.urlsplit(sts_url)
    rewritten = urllib.parse.urlunsplit((target.scheme, target.netloc, url.path or '/', url.query, ''))
    query = {k.lower(): v for k, v in urllib.parse.parse_qsl(url.query)}
    # moto's server picks the service from a SigV4 Authorization header (a query-signed URL would reach its S3):
    # the same signature material, moved from the query to the header
    authorization = (f"AWS4-HMAC-SHA256 Credential={query['x-amz-credential']}, "
                     f"SignedHeaders={query['x-amz-signedheaders']}, Signature={query['x-amz-signature']}")
    request = urllib.request.Request(rewritten, headers={'x-k8s-aws-id': cluster_name, 'Accept': 'application/json',
                                                         'Authorization': authorization})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read().decode(errors='replace')
    except urllib.error.HTTPError as exc:
        raise ValueError(f'STS answered {exc.code}') from None
    except OSError as exc:
        raise ValueError(f'STS unreachable: {exc}') from None
    match = ARN.search(body)
    if not match:
        raise ValueError('STS answered without a caller ARN')
    return match.group(1) or match.group(2)


def user_name(arn: str) -> str:
    """EKS-style user name: arn:aws:iam::1:user/NAME -> NAME; an assumed role -> ROLE/SESSION."""
    resource = arn.split(':', 5)[-1]
    kind, _, rest = resource.partition('/')
    if kind == 'assumed-role':
        return rest
    return rest.rsplit('/', 1)[-1] or resource


def unauthorized_status() -> dict:
    """The body a real API server sends with 401."""
    return {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure', 'message': 'Unauthorized',
            'reason': 'Unauthorized', 'code': 401}
