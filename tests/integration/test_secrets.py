"""Secrets out of Helm's release record (chart 1.7.x), through site.yml against the lab (docs/secrets.md).

One inventory, three hosts, two playbook runs (chart 1.0.x's single warning is checked in test_deploy.py):

  A  helm       migrate_17 installed the way earlier versions did: build_values (portkey_secrets.mode values, the
                secrets in the values) + helm upgrade --install of the lab's 1.7.7 chart
  B  site.yml   migrate_17 moves to owned Secrets (a thread samples its Ready pods all along), aws_17 (client auth
                from AWS Secrets Manager in moto), eso_17 (an ExternalSecret; a thread plays the External Secrets
                Operator and creates the target Secret)
  C  site.yml   every host again: migrate_17 and eso_17 change nothing (changed=0, no write request); aws_17's
                secret was rotated in Secrets Manager: the Secret and the pods follow
"""
from __future__ import annotations

import base64
import gzip
import json
import os
import sys
import threading
import uuid
from pathlib import Path

import boto3
import pytest

from conftest import (
    ROOT, Lab, PlaybookRun, current_chart_copy, lab_vars, run_playbook, uninstall_releases, write_inventory,
)

if str(ROOT / 'collections') not in sys.path:   # the values builder of this checkout, for step A
    sys.path.insert(0, str(ROOT / 'collections'))
from ansible_collections.portkey_ai.gateway.plugins.module_utils._values import build_values  # noqa: E402

HOSTS = ('migrate_17', 'aws_17', 'eso_17')
CRD = {
    'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
    'metadata': {'name': 'externalsecrets.external-secrets.io'},
    'spec': {'group': 'external-secrets.io', 'scope': 'Namespaced',
             'names': {'plural': 'externalsecrets', 'singular': 'externalsecret', 'kind': 'ExternalSecret'},
             'versions': [{'name': 'v1beta1', 'served': True, 'storage': True,
                           'schema': {'openAPIV3Schema': {'type': 'object',
                                                          'x-kubernetes-preserve-unknown-fields': True}}}]},
}


def release_records(lab: Lab, namespace: str) -> list[tuple[str, bytes]]:
    """(name, JSON) of every Helm release record in the namespace: Secret data -> base64 -> base64 -> gzip."""
    items = (lab.get(f'/api/v1/namespaces/{namespace}/secrets') or {}).get('items', [])
    found = []
    for item in items:
        if item.get('type') == 'helm.sh/release.v1':
            raw = base64.b64decode(base64.b64decode(item['data']['release']))
            found.append((item['metadata']['name'], gzip.decompress(raw) if raw[:2] == b'\x1f\x8b' else raw))
    return found


def secret_data(lab: Lab, namespace: str, name: str) -> dict[str, str]:
    secret = lab.get(f'/api/v1/namespaces/{namespace}/secrets/{name}') or {}
    return {k: base64.b64decode(v).decode() for k, v in (secret.get('data') or {}).items()}


def gateway_pods(lab: Lab, namespace: str) -> list[dict]:
    pods = (lab.get(f'/api/v1/namespaces/{namespace}/pods') or {}).get('items', [])
    return [p for p in pods if p['metadata'].get('labels', {}).get('app.kubernetes.io/name') == 'gateway'
            and any(c['type'] == 'Ready' and c['status'] == 'True' for c in p['status'].get('conditions', []))]


def deployment(lab: Lab, namespace: str, release: str) -> dict:
    return lab.get(f'/apis/apps/v1/namespaces/{namespace}/deployments/{release}-gateway') or {}


class Scenario:
    def __init__(self, lab: Lab, tmp: Path):
        self.lab = lab
        self.inventory = tmp / 'inventory.yml'
        self.runs: dict[str, PlaybookRun] = {}
        self.sm_name = f'portkey/{uuid.uuid4().hex[:8]}/client-auth'
        self.sm = boto3.client('secretsmanager', endpoint_url=os.environ['AWS_URL'], region_name='us-east-1')
        self.aws_values = ['sm-client-auth-' + uuid.uuid4().hex, 'sm-rotated-auth-' + uuid.uuid4().hex]
        self.sm.create_secret(Name=self.sm_name, SecretString=self.aws_values[0])
        self.tmp = tmp
        self.hosts = {name: lab_vars('1.7') for name in HOSTS}
        self.hosts['aws_17']['portkey_client_auth'] = (
            "{{ lookup('amazon.aws.secretsmanager_secret', '%s', region='us-east-1', "
            "endpoint_url=lookup('ansible.builtin.env', 'AWS_URL')) }}" % self.sm_name)
        eso = self.hosts['eso_17']
        self.eso_client_auth = 'eso-client-auth-' + uuid.uuid4().hex
        eso.pop('portkey_client_auth')
        eso['portkey_secrets'] = {'mode': 'external', 'name': 'gateway-env', 'store': 'aws-secrets',
                                  'remote_key': 'portkey/prod', 'keys': ['PORTKEY_CLIENT_AUTH'], 'wait_timeout': 60}
        lab._api('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', CRD) \
            if lab.get('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/' + CRD['metadata']['name']) is None \
            else None
        self.min_ready: int | None = None
        self.operator_saw: dict | None = None

    def rel(self, name: str) -> tuple[str, str]:
        return self.hosts[name]['portkey_release_name'], self.hosts[name]['portkey_namespace']

    def run(self, step: str, names, *args: str) -> PlaybookRun:
        write_inventory(self.inventory, self.hosts)
        self.runs[step] = run = run_playbook('site.yml', self.inventory, '--limit', ','.join(names), *args,
                                             timeout=240)
        print(f'secrets run {step}: {run.ended - run.started:.1f}s')
        return run

    def _operator(self, stop: threading.Event) -> None:
        """The External Secrets Operator: once the ExternalSecret exists, create its target Secret."""
        release, namespace = self.rel('eso_17')
        path = f'/apis/external-secrets.io/v1beta1/namespaces/{namespace}/externalsecrets/gateway-env'
        while not stop.is_set():
            found = self.lab.get(path)
            if found:
                self.operator_saw = found
                body = {'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': 'gateway-env'},
                        'data': {'PORTKEY_CLIENT_AUTH': base64.b64encode(self.eso_client_auth.encode()).decode()}}
                self.lab._api('POST', f'/api/v1/namespaces/{namespace}/secrets', body)
                return
            stop.wait(0.3)

    def _sampler(self, stop: threading.Event) -> None:
        _release, namespace = self.rel('migrate_17')
        while not stop.is_set():
            ready = len(gateway_pods(self.lab, namespace))
            self.min_ready = ready if self.min_ready is None else min(self.min_ready, ready)
            stop.wait(0.1)

    def install_with_secrets_in_values(self) -> None:
        """migrate_17 as earlier versions deployed it: every secret in the chart values."""
        host = self.hosts['migrate_17']
        chart = current_chart_copy(self.tmp / 'chart', host['portkey_chart_git_ref'])
        spec = {'release_name': host['portkey_release_name'], 'namespace': host['portkey_namespace'],
                'client_auth': host['portkey_client_auth'],
                'organisations_to_sync': host['portkey_organisations_to_sync'],
                'image': host['portkey_image'], 'environment': host['portkey_environment'],
                'image_credentials': {'username': 'lab-user', 'password': host['vault_portkey_registry_password']},
                'secrets': {'mode': 'values'}}
        values = build_values(spec, {'name': 'gateway', 'version': '1.7.7'}).values
        assert values['environment']['data']['PORTKEY_CLIENT_AUTH'] == host['portkey_client_auth']
        values_file = self.tmp / 'values.json'
        values_file.write_text(json.dumps(values))
        values_file.chmod(0o600)
        try:
            out = self.lab.helm('upgrade', '--install', host['portkey_release_name'],
                                str(chart), '-n', host['portkey_namespace'],
                                '--create-namespace', '--wait', '--timeout', '30s', '-f', str(values_file))
        finally:
            values_file.unlink()
        assert out.returncode == 0, out.stderr

    def steps(self) -> None:
        self.install_with_secrets_in_values()
        self.before_migration = deployment(self.lab, *reversed(self.rel('migrate_17')))
        stop = threading.Event()
        threads = [threading.Thread(target=t, args=(stop,), daemon=True) for t in (self._operator, self._sampler)]
        for t in threads:
            t.start()
        try:
            self.run('B', list(HOSTS))
        finally:
            stop.set()
            for t in threads:
                t.join(5)
        assert self.runs['B'].rc == 0, self.runs['B'].output[-4000:]
        self.sm.put_secret_value(SecretId=self.sm_name, SecretString=self.aws_values[1])
        self.aws_before_rotation = deployment(self.lab, *reversed(self.rel('aws_17')))
        self.run('C', list(HOSTS))

    def cleanup(self) -> None:
        uninstall_releases(self.lab, self.hosts)


@pytest.fixture(scope='module')
def scenario(lab, tmp_path_factory):
    s = Scenario(lab, tmp_path_factory.mktemp('secrets'))
    try:
        s.steps()
        yield s
    finally:
        s.cleanup()


def test_migration_to_owned_secrets_keeps_serving_and_leaves_no_secret_in_helm(scenario, lab):
    run = scenario.runs['B']
    assert run.rc == 0, run.output[-4000:]
    release, namespace = scenario.rel('migrate_17')
    client_auth = scenario.hosts['migrate_17']['portkey_client_auth']
    registry_password = scenario.hosts['migrate_17']['vault_portkey_registry_password']
    assert run.changed('migrate_17') > 0
    assert scenario.min_ready is not None and scenario.min_ready >= 1, \
        f'zero Ready gateway pods during the migration (minimum seen {scenario.min_ready})'
    assert secret_data(lab, namespace, f'{release}-gateway-env')['PORTKEY_CLIENT_AUTH'] == client_auth
    assert registry_password in secret_data(lab, namespace, f'{release}-gateway-registry')['.dockerconfigjson']
    values = lab.helm('get', 'values', release, '-n', namespace, '--all', '-o', 'json')
    assert values.returncode == 0 and json.loads(values.stdout)['environment']['existingSecret'] == f'{release}-gateway-env'
    assert client_auth not in values.stdout and registry_password not in values.stdout
    records = dict(release_records(lab, namespace))
    latest = max(records, key=lambda n: int(n.rsplit('.v', 1)[1]))
    assert client_auth.encode() not in records[latest] and registry_password.encode() not in records[latest]
    # the revision before the migration still holds them: what a rollback to it brings back (docs/secrets.md)
    assert any(client_auth.encode() in body for name, body in records.items() if name != latest)
    old = scenario.before_migration['spec']['template']['metadata']['annotations']
    new = deployment(lab, namespace, release)['spec']['template']['metadata']['annotations']
    assert 'portkey.ai/secret-checksum' not in old and len(new['portkey.ai/secret-checksum']) == 64
    assert client_auth not in json.dumps(new)
    assert lab.get(f'/api/v1/namespaces/{namespace}/secrets/{release}-gateway') is None, \
        'the chart-made environment Secret (with the secrets) is left behind'


def test_aws_secrets_manager_value_lands_in_the_owned_secret_and_rotates(scenario, lab):
    release, namespace = scenario.rel('aws_17')
    assert scenario.runs['B'].failed('aws_17') == 0, scenario.runs['B'].output[-4000:]
    rotation = scenario.runs['C']
    assert rotation.rc == 0 and rotation.changed('aws_17') > 0, rotation.output[-4000:]
    assert secret_data(lab, namespace, f'{release}-gateway-env')['PORTKEY_CLIENT_AUTH'] == scenario.aws_values[1]
    before = scenario.aws_before_rotation['spec']['template']['metadata']['annotations']
    after = deployment(lab, namespace, release)['spec']['template']['metadata']['annotations']
    assert before['portkey.ai/secret-checksum'] != after['portkey.ai/secret-checksum'], 'the pods did not roll'
    assert before['portkey.ai/env-checksum'] == after['portkey.ai/env-checksum']
    for value in scenario.aws_values:
        assert value not in rotation.output and value not in scenario.runs['B'].output
        assert all(value.encode() not in body for _name, body in release_records(lab, namespace))


def test_external_secrets_operator_source(scenario, lab):
    run = scenario.runs['B']
    assert run.failed('eso_17') == 0, run.output[-4000:]
    release, namespace = scenario.rel('eso_17')
    spec = scenario.operator_saw['spec']
    assert spec['secretStoreRef'] == {'name': 'aws-secrets', 'kind': 'SecretStore'}
    assert spec['target']['name'] == 'gateway-env'
    assert spec['data'] == [{'secretKey': 'PORTKEY_CLIENT_AUTH',
                             'remoteRef': {'key': 'portkey/prod', 'property': 'PORTKEY_CLIENT_AUTH'}}]
    dep = deployment(lab, namespace, release)
    env = {e['name']: e for e in dep['spec']['template']['spec']['containers'][0]['env']}
    assert env['PORTKEY_CLIENT_AUTH']['valueFrom']['secretKeyRef'] == {'name': 'gateway-env',
                                                                       'key': 'PORTKEY_CLIENT_AUTH'}
    assert len(gateway_pods(lab, namespace)) >= 1
    assert all(scenario.eso_client_auth.encode() not in body for _n, body in release_records(lab, namespace))


def test_rerun_is_a_noop_for_owned_and_external_secrets(scenario, lab):
    run = scenario.runs['C']
    assert run.rc == 0, run.output[-4000:]
    for name in ('migrate_17', 'eso_17'):
        assert run.changed(name) == 0, (name, run.output[-4000:])
    namespaces = [scenario.rel(name)[1] for name in ('migrate_17', 'eso_17')]
    assert lab.writes_between(run.started, run.ended, namespaces) == []
