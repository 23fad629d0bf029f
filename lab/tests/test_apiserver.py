"""Tests of the lab's Kubernetes API emulator (lab/apiserver) with the real helm 3/4, kubectl, ansible and
the kubernetes Python client. Every test starts its own emulator process on a free port."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab import runner, services

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / '.venv' / 'bin'
PYTHON = BIN / 'python'

CHART_TEMPLATE = """\
{{- $labels := dict "app.kubernetes.io/name" "demo" "app.kubernetes.io/instance" .Release.Name }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-env
  labels: {{ toJson $labels }}
stringData: {KEY: value}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-demo
  labels: {{ toJson $labels }}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {{ toJson $labels }}}
  template:
    metadata: {labels: {{ toJson $labels }}}
    spec:
      containers:
      - name: demo
        image: "example/demo:{{ .Values.tag }}"
        ports: [{name: http, containerPort: 8787}]
        envFrom: [{secretRef: {name: {{ .Release.Name }}-env}}]
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-demo
  labels: {{ toJson $labels }}
spec:
  type: LoadBalancer
  selector: {{ toJson $labels }}
  ports: [{name: http, port: 8787, targetPort: http}]
"""


@dataclass
class Emulator:
    url: str
    state_dir: Path
    env: dict[str, str]

    def api(self, method: str, path: str, body: Any = None,
            content_type: str = 'application/json') -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={'Content-Type': content_type})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode()

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert result.returncode == 0, f'{args}: {result.stdout}\n{result.stderr}'
        return result

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.run(str(BIN / 'kubectl'), *args, '-o', 'json').stdout)


def _start(tmp_path: Path, *extra: str, token: str = 'dummy') -> Iterator[Emulator]:
    state, stderr = tmp_path / 'state', tmp_path / 'apiserver.log'
    process = services.start_apiserver(state, *extra, log=stderr)   # lab.services' launcher of the emulator
    try:
        url = process.url
        kubeconfig = tmp_path / 'kubeconfig'
        kubeconfig.write_text(textwrap.dedent(f"""\
            apiVersion: v1
            kind: Config
            clusters: [{{name: lab, cluster: {{server: "{url}"}}}}]
            contexts: [{{name: lab, context: {{cluster: lab, user: lab, namespace: default}}}}]
            current-context: lab
            users: [{{name: lab, user: {{token: {token}}}}}]
            """))
        env = {**os.environ, 'KUBECONFIG': str(kubeconfig), 'K8S_AUTH_KUBECONFIG': str(kubeconfig),
               'HOME': str(tmp_path), 'PATH': f"{BIN}:{os.environ['PATH']}",
               'HELM_CACHE_HOME': str(tmp_path / 'helm-cache'), 'HELM_CONFIG_HOME': str(tmp_path / 'helm-config'),
               'HELM_DATA_HOME': str(tmp_path / 'helm-data')}
        yield Emulator(url, state, env)
    finally:
        process.stop()
    kept = {'objects.jsonl'} if '--persist' in extra else set()
    assert {p.name for p in state.iterdir()} - {'token'} == {'port', 'requests.jsonl'} | kept
    assert 'Traceback' not in stderr.read_text()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    yield from _start(tmp_path)


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    path = tmp_path / 'chart'
    (path / 'templates').mkdir(parents=True)
    (path / 'Chart.yaml').write_text('apiVersion: v2\nname: demo\nversion: 0.1.0\nappVersion: "1.0"\n')
    (path / 'values.yaml').write_text('replicas: 1\ntag: "1.0"\n')
    (path / 'templates' / 'all.yaml').write_text(CHART_TEMPLATE)
    return path


def _ready(pod: dict[str, Any]) -> bool:
    return any(c['type'] == 'Ready' and c['status'] == 'True' for c in pod['status']['conditions'])


def _pods(emu: Emulator, release: str) -> list[dict[str, Any]]:
    return emu.kubectl_json('get', 'pods', '-l', f'app.kubernetes.io/instance={release}')['items']


def _deployment(name: str, tag: str = '1.0', replicas: int = 1) -> dict[str, Any]:
    labels = {'app': name}
    return {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': name, 'labels': labels},
            'spec': {'replicas': replicas, 'selector': {'matchLabels': labels},
                     'template': {'metadata': {'labels': labels},
                                  'spec': {'containers': [{'name': 'c', 'image': f'example/{name}:{tag}'}]}}}}


def _service(name: str, service_type: str = 'LoadBalancer') -> dict[str, Any]:
    return {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': name},
            'spec': {'type': service_type, 'selector': {'app': name}, 'ports': [{'name': 'http', 'port': 8787}]}}


# ---- helm ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize('helm', ['helm', 'helm4'])
def test_helm_wait_rollback_and_uninstall(emulator: Emulator, chart: Path, helm: str) -> None:
    binary = str(BIN / helm)
    atomic = '--atomic' if helm == 'helm' else '--rollback-on-failure'
    emulator.run(binary, 'upgrade', '--install', 'rel', str(chart), '-n', 'default', '--wait', '--timeout', '20s')
    pods = _pods(emulator, 'rel')
    assert len(pods) == 1 and _ready(pods[0])
    service = emulator.kubectl_json('get', 'service', 'rel-demo')
    assert service['status']['loadBalancer']['ingress'][0]['hostname'] == 'rel-demo.default.elb.lab.local'
    assert service['spec']['clusterIP'].startswith('10.96.')

    failed = emulator.run(binary, 'upgrade', 'rel', str(chart), '-n', 'default', '--set', 'tag=2.0-neverready',
                          '--wait', atomic, '--timeout', '5s', check=False)
    assert failed.returncode != 0
    history = json.loads(emulator.run(binary, 'history', 'rel', '-n', 'default', '-o', 'json').stdout)
    assert [h['status'] for h in history] == ['superseded', 'failed', 'deployed']
    assert 'Rollback to 1' in history[-1]['description']
    pods = _pods(emulator, 'rel')
    assert [p['spec']['containers'][0]['image'] for p in pods] == ['example/demo:1.0'] and _ready(pods[0])

    emulator.run(binary, 'uninstall', 'rel', '-n', 'default', '--wait', '--timeout', '20s')
    left = emulator.kubectl_json('get', 'deployments,replicasets,pods,services,secrets')['items']
    assert left == []


def test_kubectl_apply_rollout_and_scale(emulator: Emulator, tmp_path: Path) -> None:
    manifest = tmp_path / 'deploy.json'
    manifest.write_text(json.dumps(_deployment('web', replicas=2)))
    kubectl = str(BIN / 'kubectl')
    emulator.run(kubectl, 'apply', '-f', str(manifest))
    assert 'unchanged' in emulator.run(kubectl, 'apply', '-f', str(manifest)).stdout
    assert 'successfully rolled out' in emulator.run(kubectl, 'rollout', 'status', 'deployment/web',
                                                     '--timeout', '10s').stdout
    deployment = emulator.kubectl_json('get', 'deployment', 'web')
    assert deployment['status']['readyReplicas'] == 2 and deployment['metadata']['generation'] == 1
    replicasets = emulator.kubectl_json('get', 'replicasets', '-l', 'app=web')['items']
    assert replicasets[0]['metadata']['ownerReferences'][0]['uid'] == deployment['metadata']['uid']
    pod_hash = replicasets[0]['metadata']['labels']['pod-template-hash']
    assert all(p['metadata']['labels']['pod-template-hash'] == pod_hash for p in _pods_by(emulator, 'app=web'))

    emulator.run(kubectl, 'patch', 'deployment', 'web', '--type', 'merge', '-p', '{"spec":{"replicas":3}}')
    assert len(_pods_by(emulator, 'app=web')) == 3
    assert emulator.kubectl_json('get', 'deployment', 'web')['metadata']['generation'] == 2

    emulator.run(kubectl, 'set', 'image', 'deployment/web', 'c=example/web:2.0-neverready')
    stuck = emulator.run(kubectl, 'rollout', 'status', 'deployment/web', '--timeout', '1s', check=False)
    assert stuck.returncode != 0
    images = sorted(p['spec']['containers'][0]['image'] for p in _pods_by(emulator, 'app=web') if _ready(p))
    assert images == ['example/web:1.0'] * 3  # the old pods keep serving

    emulator.run(kubectl, 'delete', 'deployment', 'web')
    assert _pods_by(emulator, 'app=web') == [] and emulator.kubectl_json('get', 'rs')['items'] == []


def test_pods_reading_a_missing_secret_key_are_not_ready(emulator: Emulator, tmp_path: Path) -> None:
    """A pod whose env reads a Secret key that does not exist when it is created never gets Ready (the kubelet's
    CreateContainerConfigError): the rollout stays on the old pods."""
    kubectl = str(BIN / 'kubectl')
    web = _deployment('web')
    container = web['spec']['template']['spec']['containers'][0]
    container['env'] = [{'name': 'TOKEN', 'valueFrom': {'secretKeyRef': {'name': 'creds', 'key': 'TOKEN'}}},
                        {'name': 'OPT', 'valueFrom': {'secretKeyRef': {'name': 'nope', 'key': 'X', 'optional': True}}}]
    manifest = tmp_path / 'web.json'
    manifest.write_text(json.dumps(web))
    emulator.run(kubectl, 'apply', '-f', str(manifest))
    assert not any(_ready(p) for p in _pods_by(emulator, 'app=web')), 'no Secret: the pod must not be Ready'
    emulator.run(kubectl, 'create', 'secret', 'generic', 'creds', '--from-literal=OTHER=1')
    emulator.run(kubectl, 'delete', 'pods', '-l', 'app=web')
    assert not any(_ready(p) for p in _pods_by(emulator, 'app=web')), 'key missing: the pod must not be Ready'
    emulator.run(kubectl, 'delete', 'secret', 'creds')
    emulator.run(kubectl, 'create', 'secret', 'generic', 'creds', '--from-literal=TOKEN=t')
    emulator.run(kubectl, 'delete', 'pods', '-l', 'app=web')
    assert [_ready(p) for p in _pods_by(emulator, 'app=web')] == [True]


def _pods_by(emu: Emulator, selector: str) -> list[dict[str, Any]]:
    return emu.kubectl_json('get', 'pods', '-l', selector)['items']


# ---- API semantics ------------------------------------------------------------------------------------

def test_errors_selectors_and_namespace_cascade(emulator: Emulator) -> None:
    api = emulator.api
    assert api('POST', '/api/v1/namespaces', {'metadata': {'name': 'team'}})[0] == 201
    for name, labels in (('a', {'tier': 'web', 'env': 'prod'}), ('b', {'tier': 'db'}), ('c', {})):
        body = {'metadata': {'name': name, 'labels': labels}, 'data': {'k': 'v'}}
        assert api('POST', '/api/v1/namespaces/team/configmaps', body)[0] == 201
    status, body = api('POST', '/api/v1/namespaces/team/configmaps', {'metadata': {'name': 'a'}})
    assert (status, body['reason'], body['details']['name']) == (409, 'AlreadyExists', 'a')
    status, body = api('GET', '/api/v1/namespaces/team/configmaps/nope')
    assert (status, body['kind'], body['reason'], body['message']) == (404, 'Status', 'NotFound', 'configmaps "nope" not found')

    def names(query: str) -> list[str]:
        status, body = api('GET', f'/api/v1/namespaces/team/configmaps?{query}')
        assert status == 200 and body['kind'] == 'ConfigMapList' and body['metadata']['resourceVersion']
        return [item['metadata']['name'] for item in body['items']]

    assert names('labelSelector=tier') == ['a', 'b']
    assert names('labelSelector=!tier') == ['c']
    assert names('labelSelector=tier%3Dweb') == ['a']
    assert names('labelSelector=tier!%3Dweb') == ['b', 'c']
    assert names('labelSelector=tier+in+(db,cache)') == ['b']
    assert names('labelSelector=tier,env%3Dprod') == ['a']
    assert names('fieldSelector=metadata.name%3Dc') == ['c']

    status, body = api('PUT', '/api/v1/namespaces/team/configmaps/a',
                       {'metadata': {'name': 'a', 'resourceVersion': '1'}, 'data': {}})
    assert (status, body['reason']) == (409, 'Conflict')
    status, body = api('PATCH', '/api/v1/namespaces/team/configmaps/a', [{'op': 'add', 'path': '/data/x', 'value': 'y'}],
                       'application/json-patch+json')
    assert status == 200 and body['data'] == {'k': 'v', 'x': 'y'}
    assert api('DELETE', '/api/v1/namespaces/team/configmaps?labelSelector=tier%3Ddb')[0] == 200
    assert names('') == ['a', 'c']

    assert api('DELETE', '/api/v1/namespaces/team')[0] == 200
    assert api('GET', '/api/v1/configmaps')[1]['items'] == []
    status, body = api('POST', '/api/v1/namespaces/team/configmaps', {'metadata': {'name': 'x'}})
    assert (status, body['message']) == (404, 'namespaces "team" not found')
    assert api('POST', '/api/v1/namespaces/default/secrets', {'metadata': {'name': 's'}}, 'application/vnd.kubernetes.protobuf')[0] == 400


def test_watch_semantics(emulator: Emulator) -> None:
    api = emulator.api
    api('POST', '/api/v1/namespaces/default/configmaps', {'metadata': {'name': 'w1', 'labels': {'app': 'x'}}})
    start_rv = api('GET', '/api/v1/namespaces/default/configmaps')[1]['metadata']['resourceVersion']
    api('PATCH', '/api/v1/namespaces/default/configmaps/w1', {'data': {'a': '1'}}, 'application/merge-patch+json')
    api('POST', '/api/v1/namespaces/default/configmaps', {'metadata': {'name': 'w2', 'labels': {'app': 'y'}}})
    api('PATCH', '/api/v1/namespaces/default/configmaps/w2', {'metadata': {'labels': {'app': 'x'}}},
        'application/merge-patch+json')
    api('DELETE', '/api/v1/namespaces/default/configmaps/w1')

    def watch(query: str) -> list[tuple[str, str]]:
        url = f'{emulator.url}/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&{query}'
        started = time.monotonic()
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.headers['Content-Type'].startswith('application/json')
            events = [json.loads(line) for line in response.read().splitlines()]
        assert time.monotonic() - started < 3  # timeoutSeconds honoured
        return [(e['type'], e['object']['metadata'].get('name', '')) for e in events]

    assert watch('labelSelector=app%3Dx') == [('ADDED', 'w2')]
    assert watch(f'resourceVersion={start_rv}&labelSelector=app%3Dx') == [
        ('MODIFIED', 'w1'), ('ADDED', 'w2'), ('DELETED', 'w1')]
    assert watch(f'resourceVersion={start_rv}&fieldSelector=metadata.name%3Dw2') == [('ADDED', 'w2'), ('MODIFIED', 'w2')]
    assert watch('sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true') == [
        ('ADDED', 'w2'), ('BOOKMARK', '')]


def test_python_client_live_watch(emulator: Emulator) -> None:
    script = textwrap.dedent("""
        import threading, time
        from kubernetes import client, config, watch
        config.load_kube_config()
        core = client.CoreV1Api()
        def later():
            time.sleep(0.3)
            core.create_namespaced_config_map('default', {'metadata': {'name': 'live', 'labels': {'k': 'v'}}})
        threading.Thread(target=later).start()
        for event in watch.Watch().stream(core.list_namespaced_config_map, 'default', label_selector='k=v',
                                          timeout_seconds=5):
            print(event['type'], event['object'].metadata.name)
            break
        print(len(core.list_namespaced_config_map('default', label_selector='k=v').items))
        """)
    assert emulator.run(str(PYTHON), '-c', script).stdout.split() == ['ADDED', 'live', '1']


def test_status_subresource_survives_updates(emulator: Emulator) -> None:
    api = emulator.api
    assert api('POST', '/api/v1/namespaces/default/services', _service('svc'))[0] == 201
    patch = {'status': {'loadBalancer': {'ingress': [{'hostname': 'my-lb.example.com'}]}}}
    status, body = api('PATCH', '/api/v1/namespaces/default/services/svc/status', patch, 'application/merge-patch+json')
    assert status == 200 and body['status']['loadBalancer']['ingress'][0]['hostname'] == 'my-lb.example.com'
    spec_patch = {'metadata': {'labels': {'x': 'y'}}, 'spec': {'ports': [{'name': 'http', 'port': 9000}]},
                  'status': {'loadBalancer': {}}}
    api('PATCH', '/api/v1/namespaces/default/services/svc', spec_patch, 'application/strategic-merge-patch+json')
    current = api('GET', '/api/v1/namespaces/default/services/svc')[1]
    api('PUT', '/api/v1/namespaces/default/services/svc', {**current, 'status': {}})
    status, body = api('GET', '/api/v1/namespaces/default/services/svc/status')
    assert body['status']['loadBalancer']['ingress'][0]['hostname'] == 'my-lb.example.com'
    assert body['spec']['clusterIP'] == current['spec']['clusterIP'] and body['metadata']['labels'] == {'x': 'y'}


def test_crd_registration(emulator: Emulator) -> None:
    api = emulator.api
    groups = lambda: [g['name'] for g in api('GET', '/apis')[1]['groups']]  # noqa: E731
    assert 'monitoring.coreos.com' not in groups() and 'apps' in groups()
    assert api('GET', '/api')[1]['versions'] == ['v1'] and api('GET', '/api/v1')[1]['groupVersion'] == 'v1'
    crd = {'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
           'metadata': {'name': 'servicemonitors.monitoring.coreos.com'},
           'spec': {'group': 'monitoring.coreos.com', 'scope': 'Namespaced',
                    'names': {'plural': 'servicemonitors', 'singular': 'servicemonitor', 'kind': 'ServiceMonitor'},
                    'versions': [{'name': 'v1', 'served': True, 'storage': True,
                                  'schema': {'openAPIV3Schema': {'type': 'object'}}}]}}
    assert api('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)[0] == 201
    assert 'monitoring.coreos.com' in groups()
    kinds = [r['kind'] for r in api('GET', '/apis/monitoring.coreos.com/v1')[1]['resources']]
    assert kinds == ['ServiceMonitor']
    monitor = {'metadata': {'name': 'sm'}, 'spec': {'endpoints': [{'port': 'http'}]}}
    assert api('POST', '/apis/monitoring.coreos.com/v1/namespaces/default/servicemonitors', monitor)[0] == 201
    assert emulator.kubectl_json('get', 'servicemonitors')['items'][0]['kind'] == 'ServiceMonitor'
    assert api('DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/servicemonitors.monitoring.coreos.com')[0] == 200
    assert 'monitoring.coreos.com' not in groups()
    assert api('GET', '/apis/monitoring.coreos.com/v1/namespaces/default/servicemonitors')[0] == 404


# ---- lab endpoints ----------------------------------------------------------------------------------

@pytest.fixture
def upstream() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = f'hey from {self.path}'.encode()
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()


def test_service_proxy(tmp_path: Path, upstream: str) -> None:
    for emulator in _start(tmp_path, '--gateway-url', upstream):
        api = emulator.api
        for name, tag in (('good', '1.0'), ('bad', '1.0-neverready')):
            api('POST', '/apis/apps/v1/namespaces/default/deployments', _deployment(name, tag))
            api('POST', '/api/v1/namespaces/default/services', _service(name))
        for spec in ('good:8787', 'good:http', 'https:good:8787', 'good'):
            status, body = api('GET', f'/api/v1/namespaces/default/services/{spec}/proxy/v1/health?x=1')
            assert (status, body) == (200, 'hey from /v1/health?x=1')
        status, body = api('GET', '/api/v1/namespaces/default/services/bad:8787/proxy/')
        assert (status, body['kind'], body['message']) == (503, 'Status', 'no endpoints available for service "bad"')
        assert api('GET', '/api/v1/namespaces/default/services/nope:8787/proxy/')[0] == 404


def test_request_log(emulator: Emulator) -> None:
    assert emulator.api('GET', '/_lab/healthz')[0] == 200
    emulator.api('DELETE', '/_lab/requests')
    emulator.api('GET', '/api/v1/namespaces/default/secrets?labelSelector=a%3Db')
    emulator.api('POST', '/api/v1/namespaces/default/secrets', {'metadata': {'name': 'x'}})
    entries = emulator.api('GET', '/_lab/requests')[1]
    assert [(e['method'], e['path'], e['query']) for e in entries] == [
        ('GET', '/api/v1/namespaces/default/secrets', 'labelSelector=a%3Db'),
        ('POST', '/api/v1/namespaces/default/secrets', '')]
    assert all(isinstance(e['ts'], float) for e in entries)
    logged = (emulator.state_dir / 'requests.jsonl').read_text().splitlines()
    assert json.loads(logged[-1])['method'] == 'POST' and not any('/_lab/' in line for line in logged)


def test_kubernetes_core_k8s_is_idempotent(emulator: Emulator, tmp_path: Path) -> None:
    playbook = tmp_path / 'play.yml'
    playbook.write_text(json.dumps([{
        'hosts': 'localhost', 'gather_facts': False, 'connection': 'local',
        'tasks': [{'name': f'apply {n}', 'register': f'r{n}',
                   'kubernetes.core.k8s': {'state': 'present', 'namespace': 'default',
                                           'definition': [_deployment('kc'), _service('kc')]}} for n in (1, 2)]
                 + [{'ansible.builtin.assert': {'that': ['r1 is changed', 'r2 is not changed']}},
                    {'kubernetes.core.k8s_info': {'kind': 'Pod', 'namespace': 'default', 'label_selectors': ['app=kc']},
                     'register': 'pods'},
                    {'ansible.builtin.assert': {'that': ['pods.resources | length == 1']}}],
    }]))
    env = {**emulator.env, 'ANSIBLE_LOCALHOST_WARNING': 'false', 'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false',
           'ANSIBLE_PYTHON_INTERPRETER': str(PYTHON)}
    result = runner.run_playbook(playbook, 'localhost,', base=env, timeout=120, cwd=tmp_path)
    assert result.rc == 0, result.output


def test_bearer_token_and_state_kept_across_restarts(tmp_path: Path, chart: Path) -> None:
    """With a token file a wrong bearer token gets 401; with --persist a restarted emulator keeps its objects."""
    (tmp_path / 'state').mkdir()
    (tmp_path / 'state' / 'token').write_text('lab-token-1234\n')
    first = _start(tmp_path, '--persist', token='lab-token-1234')
    emu = next(first)
    emu.run(str(BIN / 'helm'), 'install', 'kept', str(chart), '--wait', '--timeout', '30s')
    crd = {'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
           'metadata': {'name': 'widgets.lab.example'},
           'spec': {'group': 'lab.example', 'scope': 'Namespaced',
                    'names': {'plural': 'widgets', 'singular': 'widget', 'kind': 'Widget'},
                    'versions': [{'name': 'v1', 'served': True, 'storage': True}]}}
    assert emu.api('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)[0] == 201
    def status_with(token: str) -> int:
        request = urllib.request.Request(emu.url + '/api/v1/namespaces/default/pods',
                                         headers={'Authorization': f'Bearer {token}'})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
    # (client-go sends no bearer token over plain http; the Python client, as kubernetes.core, does)
    assert status_with('expired') == 401 and status_with('lab-token-1234') == 200
    assert emu.api('GET', '/api/v1/namespaces/default/pods')[0] == 200  # anonymous (no RBAC in the lab)
    before = emu.kubectl_json('get', 'deployment', 'kept-demo')
    first.close()  # stop; then start again on the same state dir
    second = _start(tmp_path, '--persist', token='lab-token-1234')
    emu = next(second)
    try:
        after = emu.kubectl_json('get', 'deployment', 'kept-demo')
        assert after['metadata']['uid'] == before['metadata']['uid']
        assert after['metadata']['resourceVersion'] == before['metadata']['resourceVersion']
        listed = json.loads(emu.run(str(BIN / 'helm'), 'list', '-o', 'json').stdout)
        assert [(r['name'], r['status']) for r in listed] == [('kept', 'deployed')]
        assert emu.api('GET', '/apis/lab.example/v1/namespaces/default/widgets')[0] == 200  # CRD kinds restored
        emu.run(str(BIN / 'helm'), 'upgrade', 'kept', str(chart), '--set', 'tag=2.0', '--wait', '--timeout', '30s')
        assert emu.kubectl_json('get', 'deployment', 'kept-demo')['metadata']['generation'] == 2
    finally:
        second.close()
