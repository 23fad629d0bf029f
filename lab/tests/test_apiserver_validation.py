"""The emulator refuses what a real API server refuses (422 Invalid): non-string ConfigMap / Secret data values,
names that are not DNS-1123 (too long, upper case), bad label values. Helm sees the same error as on EKS."""
from __future__ import annotations

from pathlib import Path

import pytest

from test_apiserver import Emulator, _start


@pytest.fixture(scope='module')
def emulator(tmp_path_factory) -> Emulator:
    """One emulator for the module (each case uses its own object names)."""
    yield from _start(tmp_path_factory.mktemp('validation'))


@pytest.mark.parametrize('body, fragment', [
    ({'metadata': {'name': 'env'}, 'data': {'REDIS_TLS_ENABLED': True}}, 'data[REDIS_TLS_ENABLED]: Invalid value: bool'),
    ({'metadata': {'name': 'env'}, 'data': {'PORT': 8787}}, 'data[PORT]: Invalid value: int'),
    ({'metadata': {'name': 'env'}, 'data': {'EMPTY': None}}, 'data[EMPTY]: Invalid value: NoneType'),
    ({'metadata': {'name': 'env'}, 'data': {'bad key': 'x'}}, 'data[bad key]: Invalid value: a valid config key'),
    ({'metadata': {'name': 'Upper'}, 'data': {}}, 'metadata.name: Invalid value: "Upper"'),
    ({'metadata': {'name': 'x' * 254}, 'data': {}}, 'at most 253 characters'),
    ({'metadata': {'name': 'env', 'labels': {'a': 'v' * 64}}}, 'metadata.labels: Invalid value'),
])
def test_invalid_configmaps_are_refused(emulator: Emulator, body: dict, fragment: str) -> None:
    status, answer = emulator.api('POST', '/api/v1/namespaces/default/configmaps', body)
    assert (status, answer['reason']) == (422, 'Invalid') and fragment in answer['message'], answer
    assert emulator.api('GET', '/api/v1/namespaces/default/configmaps/env')[0] == 404


def test_secret_and_service_rules_and_valid_objects(emulator: Emulator, tmp_path: Path) -> None:
    api = emulator.api
    status, answer = api('POST', '/api/v1/namespaces/default/secrets',
                         {'metadata': {'name': 's'}, 'stringData': {'PORTKEY_CLIENT_AUTH': 12}})
    assert (status, answer['reason']) == (422, 'Invalid') and 'stringData[PORTKEY_CLIENT_AUTH]' in answer['message']
    # a Service name is a DNS-1123 label: 63 characters at most (a ConfigMap's may be longer)
    long_name = 'g' * 64
    status, answer = api('POST', '/api/v1/namespaces/default/services',
                         {'metadata': {'name': long_name}, 'spec': {'ports': [{'port': 80}]}})
    assert (status, answer['reason']) == (422, 'Invalid') and 'DNS-1123 label' in answer['message']
    assert api('POST', '/api/v1/namespaces/default/configmaps', {'metadata': {'name': long_name}, 'data': {}})[0] == 201
    # the same through a patch: the merged object is validated
    status, answer = api('PATCH', f'/api/v1/namespaces/default/configmaps/{long_name}', {'data': {'n': 1}},
                         'application/merge-patch+json')
    assert status == 422 and 'data[n]' in answer['message']
    assert api('POST', '/api/v1/namespaces/default/secrets',
               {'metadata': {'name': 'ok', 'labels': {'app.kubernetes.io/name': 'gateway'}},
                'stringData': {'PORTKEY_CLIENT_AUTH': 'x', 'PORT': '8787'}})[0] == 201
    # helm reports the server's refusal as is
    chart = tmp_path / 'chart'
    (chart / 'templates').mkdir(parents=True)
    (chart / 'Chart.yaml').write_text('apiVersion: v2\nname: cm\nversion: 1.0.0\n')
    (chart / 'templates' / 'cm.yaml').write_text(
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: env}\ndata:\n  TLS: {{ .Values.tls }}\n')
    result = emulator.run('helm', 'install', 'cm', str(chart), '--set', 'tls=true', check=False)
    assert result.returncode != 0 and 'data[TLS]: Invalid value' in result.stderr, result.stderr
