"""Production readiness in the lab: HA settings of both chart generations applied, restarts only on environment
changes, a canary fleet roll-out over three emulated clusters with a summary, rollback, the optional ServiceMonitor
and the per-cluster audit records.

Every run uses short helm timeouts; the never-ready canary fails within its helm timeout (no sleeps anywhere).
"""
from __future__ import annotations

import json
import re
import stat
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import LAB_DIR, VENV_BIN, lab_vars, labctl, run_playbook, write_inventory

ZONE = 'topology.kubernetes.io/zone'
CHECKSUM = 'portkey.ai/env-checksum'
FAST = {'portkey_helm_timeout': '15s', 'portkey_verify_timeout': 15}


# --- helpers -------------------------------------------------------------------------------------------------------

class Cluster:
    """One emulated cluster: its kubeconfig and API URL."""

    def __init__(self, name: str, kubeconfig: str):
        self.name = name
        self.kubeconfig = kubeconfig
        config = yaml.safe_load(Path(kubeconfig).read_text())
        self.api_url = config['clusters'][0]['cluster']['server'].rstrip('/')

    def _call(self, method: str, path: str, body: dict | None = None):
        req = urllib.request.Request(self.api_url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and method == 'GET':
                return None
            raise

    def get(self, path: str):
        return self._call('GET', path)

    def post(self, path: str, body: dict):
        return self._call('POST', path, body)

    def writes(self) -> list[dict]:
        return [r for r in self._call('GET', '/_lab/requests') if r['method'] in ('POST', 'PUT', 'PATCH', 'DELETE')]

    def clear_requests(self) -> None:
        self._call('DELETE', '/_lab/requests')

    def helm(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(VENV_BIN / 'helm'), '--kubeconfig', self.kubeconfig, *args],
                              capture_output=True, text=True, check=False)

    def release(self, name: str, namespace: str) -> dict | None:
        out = self.helm('list', '-n', namespace, '-a', '-o', 'json', '--filter', f'^{name}$')
        items = json.loads(out.stdout or '[]')
        return items[0] if items else None

    def deployment(self, namespace: str, name: str) -> dict:
        return self.get(f'/apis/apps/v1/namespaces/{namespace}/deployments/{name}')

    def pods(self, namespace: str, release: str) -> list[dict]:
        selector = urllib.request.quote(f'app.kubernetes.io/name=gateway,app.kubernetes.io/instance={release},'
                                        f'!app.kubernetes.io/component')
        return self.get(f'/api/v1/namespaces/{namespace}/pods?labelSelector={selector}')['items']


@pytest.fixture(scope='module')
def default_cluster(lab) -> Cluster:
    return Cluster('lab', lab.kubeconfig)


@pytest.fixture(scope='module')
def fleet(lab):
    """Three more emulators (one inventory host each), stopped at the end."""
    run_id = uuid.uuid4().hex[:4]
    names = [f'prod-{run_id}-{zone}' for zone in ('a', 'b', 'c')]
    labctl('cluster-up', *names)
    try:
        yield [Cluster(name, str(LAB_DIR / 'clusters' / name / 'kubeconfig')) for name in names]
    finally:
        labctl('cluster-down', *names)


def deploy(tmp_path: Path, hosts: dict[str, dict], *args: str, playbook: str = 'playbooks/site.yml', env=None):
    inventory = write_inventory(tmp_path / f'inventory-{uuid.uuid4().hex[:6]}.yml', hosts)
    # JSON results: long messages are not folded, so the tests can read them back
    return run_playbook(playbook, inventory, *args, env={'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json', **(env or {})},
                        timeout=240)


def summary_lines(output: str) -> list[str]:
    """The summary play's debug message (one line per cluster)."""
    start = output.index("TASK [Show each cluster's release, chart and health]")
    result, _end = json.JSONDecoder().raw_decode(output[output.index('{', start):])
    return result['msg']


def template_annotation(dep: dict) -> str:
    return dep['spec']['template']['metadata']['annotations'][CHECKSUM]


# --- HA settings of both generations; restarts only on environment changes; HPA; rollback ----------------------

SELECTOR = {'matchExpressions': [{'key': 'app.kubernetes.io/component', 'operator': 'DoesNotExist'}]}


def _deploy_ha(cluster: Cluster, tmp_path: Path, generation: str) -> tuple[dict, dict]:
    """Deploy 3 replicas with zone spread, PDB and a rolling-update strategy; check what reached the API."""
    hv = lab_vars(generation, portkey_replicas=3, **FAST,
                  portkey_high_availability={'zone_spread': True, 'pdb': True},
                  portkey_strategy={'max_surge': 1, 'max_unavailable': 0})
    rel, ns = hv['portkey_release_name'], hv['portkey_namespace']
    run = deploy(tmp_path, {'lab': hv})
    assert run.rc == 0, run.output
    dep = cluster.deployment(ns, f'{rel}-gateway')
    spec = dep['spec']['template']['spec']
    assert dep['spec']['replicas'] == 3 and dep['status'].get('readyReplicas') == 3
    # runbook sizing by default
    assert spec['containers'][0]['resources'] == {'requests': {'cpu': '1', 'memory': '2Gi'},
                                                  'limits': {'cpu': '2', 'memory': '4Gi'}}
    selector = dict(SELECTOR, matchLabels={'app.kubernetes.io/name': 'gateway', 'app.kubernetes.io/instance': rel})
    if generation == '1.7':
        (constraint,) = spec['topologySpreadConstraints']
        assert constraint['topologyKey'] == ZONE and constraint['maxSkew'] == 1
        assert constraint['labelSelector'] == selector
        assert dep['spec']['strategy'] == {'type': 'RollingUpdate',
                                           'rollingUpdate': {'maxSurge': 1, 'maxUnavailable': 0}}
    else:
        (term,) = spec['affinity']['podAntiAffinity']['preferredDuringSchedulingIgnoredDuringExecution']
        assert term['podAffinityTerm'] == {'labelSelector': selector, 'topologyKey': ZONE}
        assert 'topologySpreadConstraints' not in spec
        assert 'chart 1.0.x has no strategy key' in run.output  # said, not silently dropped
    # the collection's PodDisruptionBudget selects exactly the release's gateway pods (not redis, not dataservice)
    pdb = cluster.get(f'/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{rel}-gateway')
    assert pdb['spec']['minAvailable'] == 1 and pdb['spec']['selector'] == selector
    assert pdb['metadata']['labels']['app.kubernetes.io/managed-by'] == 'portkey_ai.gateway'
    assert len(cluster.pods(ns, rel)) == 3
    assert not cluster.get(f'/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers')['items']
    return hv, dep


def test_ha_legacy_chart_and_restart_marker(default_cluster, tmp_path):
    """1.0.x: anti-affinity spread + PDB; the env-checksum annotation changes with the environment only."""
    hv, dep = _deploy_ha(default_cluster, tmp_path, '1.0')
    rel, ns = hv['portkey_release_name'], hv['portkey_namespace']
    name = f'{rel}-gateway'
    first = template_annotation(dep)
    pods_before = {p['metadata']['name'] for p in default_cluster.pods(ns, rel)}

    # replicas and a pod label: same marker (the chart's random autoRestart annotation is never rendered)
    hv.update(portkey_replicas=2, portkey_pod_labels={'team': 'platform'})
    run = deploy(tmp_path, {'lab': hv})
    assert run.rc == 0, run.output
    dep = default_cluster.deployment(ns, name)
    assert dep['spec']['replicas'] == 2 and dep['spec']['template']['metadata']['labels']['team'] == 'platform'
    assert template_annotation(dep) == first
    assert set(dep['spec']['template']['metadata']['annotations']) == {CHECKSUM}

    # an environment value: a new marker, so every pod is replaced
    hv['portkey_environment'] = dict(hv['portkey_environment'], REQUEST_TIMEOUT='30000')
    run = deploy(tmp_path, {'lab': hv})
    assert run.rc == 0, run.output
    dep = default_cluster.deployment(ns, name)
    assert template_annotation(dep) != first
    assert not pods_before & {p['metadata']['name'] for p in default_cluster.pods(ns, rel)}


def test_ha_current_chart_hpa_and_rollback(default_cluster, tmp_path):
    """1.7.x: topology spread, strategy, PDB; then an HPA and a new image; rollback.yml returns to revision 1."""
    hv, dep = _deploy_ha(default_cluster, tmp_path, '1.7')
    rel, ns = hv['portkey_release_name'], hv['portkey_namespace']
    name = f'{rel}-gateway'
    old_image = dep['spec']['template']['spec']['containers'][0]['image']
    assert old_image.endswith(':2.13.0')

    # HPA when enabled (the Deployment leaves replicas to it), with a new image tag: revision 2
    del hv['portkey_replicas']
    hv.update(portkey_autoscaling={'enabled': True, 'min_replicas': 3, 'max_replicas': 6, 'target_cpu': 70},
              portkey_image=dict(hv['portkey_image'], tag='2.13.1'))
    run = deploy(tmp_path, {'lab': hv})
    assert run.rc == 0, run.output
    (hpa,) = default_cluster.get(f'/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers')['items']
    assert (hpa['spec']['minReplicas'], hpa['spec']['maxReplicas']) == (3, 6)
    assert hpa['spec']['scaleTargetRef']['name'] == name
    assert hpa['spec']['metrics'][0]['resource']['target']['averageUtilization'] == 70
    assert default_cluster.deployment(ns, name)['spec']['template']['spec']['containers'][0]['image'] \
        .endswith(':2.13.1')

    # rollback.yml (no revision given: the previous one), then verify
    run = deploy(tmp_path, {'lab': hv}, playbook='playbooks/rollback.yml')
    assert run.rc == 0 and run.failed('lab') == 0, run.output
    history = json.loads(default_cluster.helm('history', rel, '-n', ns, '-o', 'json').stdout)
    assert [h['revision'] for h in history] == [1, 2, 3]
    assert history[-1]['status'] == 'deployed' and history[-1]['description'] == 'Rollback to 1'
    dep = default_cluster.deployment(ns, name)
    assert dep['spec']['template']['spec']['containers'][0]['image'] == old_image
    assert dep['spec']['replicas'] == 3 and dep['status'].get('readyReplicas') == 3
    assert not default_cluster.get(f'/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers')['items']
    assert 'TASK [portkey_ai.gateway.verify : Verify the gateway' in run.stdout


# --- fleet: canary batch of one, summary, records -----------------------------------------------------------------

def _fleet_hosts(fleet, suffix: str, **per_host) -> dict[str, dict]:
    hosts = {}
    for cluster in fleet:
        hv = lab_vars('1.0', **FAST)
        hv.update(portkey_release_name=f'pk-{suffix}', portkey_namespace=f'fleet-{suffix}',
                  portkey_kubeconfig=cluster.kubeconfig, **per_host.get(cluster.name, {}))
        hosts[cluster.name] = hv
    return hosts


CANARY = ['-e', json.dumps({'portkey_serial': [1, '100%'], 'portkey_max_fail_percentage': 0})]


def test_fleet_canary_stops_on_a_failed_canary(fleet, tmp_path):
    suffix = uuid.uuid4().hex[:6]
    canary, *others = fleet
    bad_image = {'repository': 'docker.io/portkeyai/gateway_enterprise', 'tag': '1.11.4-neverready'}
    hosts = _fleet_hosts(fleet, suffix, **{canary.name: {'portkey_image': bad_image, 'portkey_helm_timeout': '5s'}})
    for cluster in others:
        cluster.clear_requests()
    run = deploy(tmp_path, hosts, *CANARY)
    assert run.rc != 0
    lines = summary_lines(run.stdout)
    assert len(lines) == 3, run.stdout
    assert lines[0].startswith(f'{canary.name}: failed, revision -, chart 1.0.8 (')
    for cluster, line in zip(others, lines[1:]):
        assert line.startswith(f'{cluster.name}: not run, revision -, chart -')
        assert 'the roll-out stopped after 1 of 1 cluster(s) of the batch' in line
    # the canary's failed install was rolled back (atomic); the others were never touched: no release, no write
    assert canary.release(f'pk-{suffix}', f'fleet-{suffix}') is None
    for cluster in others:
        assert cluster.release(f'pk-{suffix}', f'fleet-{suffix}') is None
        assert cluster.writes() == []
    recap = run.recap
    assert recap[canary.name]['failed'] == 1 and recap[canary.name]['rescued'] == 1
    assert all(recap[c.name]['failed'] == 0 for c in others)


def test_fleet_all_clusters_in_one_run(fleet, tmp_path):
    suffix = uuid.uuid4().hex[:6]
    records = tmp_path / 'records'
    hosts = _fleet_hosts(fleet, suffix)
    for hv in hosts.values():
        hv['portkey_record_dir'] = str(records)
    run = deploy(tmp_path, hosts, *CANARY, env={'ANSIBLE_SHOW_CUSTOM_STATS': '1'})
    assert run.rc == 0, run.output
    assert summary_lines(run.stdout) == [f'{c.name}: healthy, revision 1, chart 1.0.8' for c in fleet]
    stats = run.stdout[run.stdout.index('CUSTOM STATS'):]  # kept as job artifacts (set_stats)
    assert 'portkey_summary' in stats and all(c.name in stats for c in fleet)
    for cluster in fleet:
        assert cluster.release(f'pk-{suffix}', f'fleet-{suffix}')['status'] == 'deployed'
    # one audit record per cluster: 0600 in a 0700 folder, redacted values, no secrets
    assert stat.S_IMODE(records.stat().st_mode) == 0o700
    files = sorted(records.iterdir())
    # <record_name>-<YYYYmmddTHHMMSS.ffffffZ>.json (a cluster name may itself hold '-2...')
    assert [re.sub(r'-\d{8}T\d{6}\.\d+Z\.json$', '', f.name) for f in files] == [c.name for c in fleet]
    for path, cluster in zip(files, fleet):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        doc = json.loads(path.read_text())
        assert (doc['record_name'], doc['revision'], doc['status'], doc['chart_version']) == \
            (cluster.name, 1, 'deployed', '1.0.8')
        text = path.read_text()
        for secret in (hosts[cluster.name]['portkey_client_auth'], hosts[cluster.name]['vault_portkey_registry_password']):
            assert secret not in text
        assert doc['values']['environment']['data']['PORTKEY_CLIENT_AUTH'].startswith('<redacted sha256:')


# --- monitoring: ServiceMonitor only with its CRD; Prometheus / OTEL environment ------------------------------------

SERVICEMONITOR_CRD = {
    'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
    'metadata': {'name': 'servicemonitors.monitoring.coreos.com'},
    'spec': {'group': 'monitoring.coreos.com', 'scope': 'Namespaced',
             'names': {'plural': 'servicemonitors', 'singular': 'servicemonitor', 'kind': 'ServiceMonitor',
                       'listKind': 'ServiceMonitorList'},
             'versions': [{'name': 'v1', 'served': True, 'storage': True,
                           'schema': {'openAPIV3Schema': {'type': 'object',
                                                          'x-kubernetes-preserve-unknown-fields': True}}}]},
}


def test_service_monitor_needs_its_crd(fleet, tmp_path):
    cluster = fleet[-1]  # an extra cluster of its own: the CRD is cluster-wide
    hv = lab_vars('1.7', **FAST, portkey_kubeconfig=cluster.kubeconfig,
                  portkey_monitoring={'service_monitor': True, 'interval': '15s',
                                      'environment': {'ENABLE_PROMETHEUS': True, 'OTEL_PUSH_ENABLED': 'yes',
                                                      'OTEL_ENDPOINT': 'http://otel-collector.monitoring:4318'}})
    rel, ns = hv['portkey_release_name'], hv['portkey_namespace']
    monitors = f'/apis/monitoring.coreos.com/v1/namespaces/{ns}/servicemonitors'
    assert cluster.get('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/servicemonitors.monitoring.coreos.com') is None

    run = deploy(tmp_path, {'lab': hv})
    assert run.rc == 0, run.output
    assert 'no servicemonitors.monitoring.coreos.com CRD: no ServiceMonitor created' in run.stdout
    # the monitoring environment reached the gateway, booleans normalised (chart 1.7.x with the collection's own
    # Secret: the non-secret environment is plain container env of the Deployment)
    container = cluster.deployment(ns, f'{rel}-gateway')['spec']['template']['spec']['containers'][0]
    data = {e['name']: e['value'] for e in container.get('env') or [] if 'value' in e}
    assert (data['ENABLE_PROMETHEUS'], data['OTEL_PUSH_ENABLED'], data['OTEL_ENDPOINT']) == \
        ('true', 'true', 'http://otel-collector.monitoring:4318')

    cluster.post('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', SERVICEMONITOR_CRD)
    run = deploy(tmp_path, {'lab': hv})
    assert run.rc == 0 and run.changed('lab') == 1, run.output
    (monitor,) = cluster.get(monitors)['items']
    assert monitor['metadata']['name'] == f'{rel}-gateway'
    assert monitor['spec']['selector'] == {'matchLabels': {'app.kubernetes.io/instance': rel}}
    assert monitor['spec']['endpoints'][0]['interval'] == '15s'

    # a bad OTEL endpoint is refused before any change
    hv['portkey_monitoring']['environment']['OTEL_ENDPOINT'] = 'otel-collector:4318'
    run = deploy(tmp_path, {'lab': hv})
    assert run.rc != 0 and 'OTEL_ENDPOINT: expected an http:// or https:// URL' in run.output
