"""lab/apiserver/auth.py without servers: token shapes EKS refuses, user names, the static token."""
from __future__ import annotations

import base64
import calendar

import pytest

from lab.apiserver import auth

NOW = calendar.timegm((2026, 12, 1, 5, 0, 0))
URL = ('https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15'
       '&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261201%2Fus-east-1%2Fsts%2Faws4_request'
       '&X-Amz-Date=20261201T045500Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=ab12')


def token(url: str) -> str:
    return auth.EKS_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip('=')


def test_a_well_formed_token_parses_and_expires_15_minutes_after_signing():
    url, expiry = auth.parse_eks_token(token(URL), 'c', NOW)
    assert url.hostname == 'sts.us-east-1.amazonaws.com'
    assert expiry == NOW - 300 + auth.TOKEN_LIFETIME


@pytest.mark.parametrize('url, reason', [
    (URL.replace('20261201T045500Z', '20261201T043000Z'), 'expired'),
    (URL.replace('GetCallerIdentity', 'AssumeRole'), 'GetCallerIdentity'),
    (URL.replace('%3Bx-k8s-aws-id', ''), 'x-k8s-aws-id'),
    (URL.replace('sts.us-east-1.amazonaws.com', 'evil.example.com'), 'not an STS host'),
    (URL.replace('&X-Amz-Signature=ab12', ''), 'SigV4'),
])
def test_eks_refusals(url, reason):
    with pytest.raises(ValueError, match=reason):
        auth.parse_eks_token(token(url), 'c', NOW)


def test_user_names_and_static_token(monkeypatch):
    assert auth.user_name('arn:aws:iam::111122223333:user/ops/alice') == 'alice'
    assert auth.user_name('arn:aws:sts::111122223333:assumed-role/Deployer/ci-run') == 'Deployer/ci-run'
    monkeypatch.setattr(auth, 'CONFIG', auth.AuthConfig(static_token='s3cret'))
    assert auth.authorized({'Authorization': 'Bearer s3cret'}, '/api')
    assert not auth.authorized({'Authorization': 'Bearer other'}, '/api')
    # plain-http cluster (no STS): anonymous is allowed (client-go sends no token over http), a wrong token is not
    assert auth.authorized({}, '/api')
    assert not auth.authorized({'Authorization': 'Bearer ' + token(URL)}, '/api')  # no STS configured
    # EKS profile (STS configured): anonymous only on the public endpoints
    monkeypatch.setattr(auth, 'CONFIG', auth.AuthConfig(static_token='s3cret', sts_url='http://127.0.0.1:1'))
    assert not auth.authorized({}, '/api') and auth.authorized({}, '/version')
    assert auth.authorized({'Authorization': 'Bearer s3cret'}, '/api')
    monkeypatch.setattr(auth, 'CONFIG', auth.AuthConfig())
    assert auth.authorized({}, '/api')  # no credential configured: open, as before
