"""Faults during a deploy (issue "Reliability and security"), against the lab.

Tests 1-5 run on their OWN extra emulator (`labctl cluster-up fault-XXXXXX`, `cluster-down` in teardown), so killing
or confusing it never disturbs another test; test 6 fails before any write, so it uses the shared lab cluster.
Waiting is bounded polling only. The module prints "faults survived: N/M" at the end (`make test` shows it).

1. the API emulator killed during an upgrade and restarted WITH its state (as a real API server): the release
   is left pending-upgrade, the next run recovers it (portkey_recover_pending=rollback) and converges;
2. moto down while an AWS role is enabled: a clear error naming the endpoint, and nothing written to the cluster;
   then the AWS endpoint down between the bucket and the policy (IAM connections dropped), then back: the rerun
   converges, one bucket, one policy (no duplicate, no orphan);
3. a release left in pending-upgrade by a killed helm: reported with portkey_recover_pending named, recovered by
   -e portkey_recover_pending=rollback;
4. two site.yml runs at once with DIFFERENT values through a flaky API server (a bounded proxy failing a share of
   connections): each fails cleanly or succeeds, the release equals one of them, nothing pending, and a rerun of
   the other one reports its drift; then no-op;
5. the playbook interrupted (SIGTERM) during an upgrade stops helm (no helm left running, nothing pending), then a
   never-ready roll-out rolls back while the old revision keeps serving;
6. connection faults found before any write, each named without a traceback: a rejected token (401), the external
   Redis down, no AWS credentials.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

from conftest import (LAB_DIR, VENV_BIN, Lab, PlaybookRun, lab_vars, labctl, report_line, run_playbook,
                      write_inventory)
from lab import runner  # noqa: E402 (conftest puts the checkout on sys.path)

from lab.faultproxy import FaultProxy  # noqa: E402
NEVERREADY = {'repository': 'docker.io/portkeyai/gateway_enterprise', 'tag': '1.11.4-neverready'}
RELEASE_TASK = re.compile(r'TASK \[portkey_ai\.gateway\.gateway : Ensure the gateway release is present\] \*+\n'
                          r'(?P<state>ok|changed|fatal|failed): \[lab\]')
FAULTS = ('apiserver killed during upgrade', 'moto down', 'pending-upgrade recovery', 'concurrent runs',
          'never-ready roll-out', 'AWS down between bucket and policy', 'flaky API server',
          'playbook interrupted', 'token rejected (401)', 'external Redis down', 'no AWS credentials')
SURVIVED: list[str] = []


def wait_until(check, timeout: float, interval: float = 0.25, what: str = 'condition'):
    """Bounded polling: the first truthy value of check(), or a test failure after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f'timed out after {timeout}s waiting for {what}')
        time.sleep(interval)


class FaultCluster(Lab):
    """One extra emulator of the lab, with the conftest Lab helpers (requests, helm, proxy_get) pointed at it."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.dir = LAB_DIR / 'clusters' / name
        self.start()

    def start(self) -> None:
        labctl('cluster-up', self.name)
        self.record = json.loads((self.dir / 'pid.json').read_text())
        self.api_url = self.record['url'].rstrip('/')
        self.kubeconfig = str(self.dir / 'kubeconfig')

    def stop(self) -> None:
        labctl('cluster-down', self.name)

    def kill(self) -> None:
        """SIGKILL this cluster's emulator (the process group labctl started), after checking its start time."""
        pid = self.record['pid']
        stat = Path(f'/proc/{pid}/stat').read_text()
        assert int(stat.rsplit(')', 1)[1].split()[19]) == self.record['starttime'], 'emulator pid was recycled'
        os.killpg(pid, signal.SIGKILL)
        wait_until(lambda: not Path(f'/proc/{pid}').exists() or 'Z' == Path(f'/proc/{pid}/stat').read_text()
                   .rsplit(')', 1)[1].split()[0], 10, what='the emulator to die')

    def alive(self) -> bool:
        try:
            with urllib.request.urlopen(self.api_url + '/_lab/healthz', timeout=5) as resp:
                return resp.status == 200
        except OSError:
            return False

    def history(self, release: str, namespace: str) -> list[dict]:
        out = self.helm('history', release, '-n', namespace, '-o', 'json')
        return json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else []

    def status(self, release: str, namespace: str) -> str | None:
        rel = self.release(release, namespace)
        return rel['status'] if rel else None


@pytest.fixture
def cluster():
    fc = FaultCluster(f'fault-{uuid.uuid4().hex[:6]}')
    try:
        yield fc
    finally:
        fc.stop()


@pytest.fixture(scope='module', autouse=True)
def report(request):
    yield
    report_line(request.config, f'faults survived: {len(SURVIVED)}/{len(FAULTS)} ({", ".join(SURVIVED) or "none"})')


def inventory(tmp_path: Path, fc: FaultCluster, name: str = 'inv.yml', **overrides) -> tuple[Path, dict]:
    hostvars = lab_vars(**{'portkey_kubeconfig': fc.kubeconfig, **overrides})
    return write_inventory(tmp_path / name, {'lab': hostvars}), hostvars


def variant(tmp_path: Path, fc: FaultCluster, hv: dict, name: str, **changes) -> Path:
    """An inventory for the same release with some vars changed."""
    return inventory(tmp_path, fc, name, **{**hv, **changes})[0]


def env_for(fc: FaultCluster) -> dict:
    return {'KUBECONFIG': fc.kubeconfig, 'K8S_AUTH_KUBECONFIG': fc.kubeconfig}


def start_playbook(inv: Path, fc: FaultCluster, *args: str, env: dict | None = None) -> subprocess.Popen:
    return runner.start_playbook('playbooks/site.yml', inv, *args, env={**env_for(fc), **(env or {})})


def finish(proc: subprocess.Popen, timeout: float = 180) -> PlaybookRun:
    try:
        return runner.finish(proc, timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f'ansible-playbook did not finish within {timeout}s:\n{exc.output[-3000:]}')


def site(inv: Path, fc: FaultCluster, *args: str, env: dict | None = None) -> PlaybookRun:
    return run_playbook('playbooks/site.yml', inv, *args, env={**env_for(fc), **(env or {})}, timeout=240)


def converged(run: PlaybookRun) -> None:
    assert run.rc == 0 and run.failed() == 0, run.output[-4000:]


def release_task_state(run: PlaybookRun) -> str | None:
    m = RELEASE_TASK.search(run.stdout)
    return m['state'] if m else None


def serving(fc: FaultCluster, hv: dict) -> bool:
    name, ns = hv['portkey_release_name'], hv['portkey_namespace']
    return fc.proxy_get(ns, f'{name}-gateway', 8787, '/')[0] == 200


# ----------------------------------------------------------------------------------------------------------------
# 1. the API server dies during an upgrade


def test_apiserver_killed_during_upgrade(cluster, tmp_path):
    inv, hv = inventory(tmp_path, cluster)
    converged(site(inv, cluster))
    name, ns = hv['portkey_release_name'], hv['portkey_namespace']
    # an upgrade that stays in helm's --wait (never-ready pods) gives a window to kill the API server in
    bad = variant(tmp_path, cluster, hv, 'bad.yml', portkey_image=NEVERREADY, portkey_helm_timeout='15s')
    proc = start_playbook(bad, cluster)
    try:
        wait_until(lambda: any(h['status'] == 'pending-upgrade' for h in cluster.history(name, ns)), 90,
                   what='the upgrade to be in progress (helm history: pending-upgrade)')
        cluster.kill()
    finally:
        run = finish(proc)
    assert run.rc != 0 and run.failed() == 1, run.output[-3000:]
    assert 'Traceback' not in run.output
    assert "failed in 'Ensure the gateway release is present'" in run.output, run.output[-3000:]
    assert 'cluster unreachable' in run.output or 'connection refused' in run.output

    cluster.start()  # the restarted emulator has its objects back (as a real API server's etcd)
    history = cluster.history(name, ns)
    assert cluster.alive() and history and history[0]['revision'] == 1, history
    assert history[-1]['status'] == 'pending-upgrade', history  # what the killed upgrade left behind
    rerun = site(inv, cluster, '-e', 'portkey_recover_pending=rollback')
    converged(rerun)
    assert 'rolled back to revision 1' in rerun.output, rerun.output[-3000:]
    assert cluster.status(name, ns) == 'deployed' and 'healthy' in rerun.stdout
    assert cluster.history(name, ns)[-1]['status'] == 'deployed'  # the rollback is the newest revision
    assert serving(cluster, hv)
    SURVIVED.append(FAULTS[0])


# ----------------------------------------------------------------------------------------------------------------
# 2. moto down


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_moto_down_clear_error_and_no_cluster_change(cluster, tmp_path):
    inv, hv = inventory(tmp_path, cluster, portkey_aws_region='us-east-1',
                        portkey_log_store_aws={'enabled': True, 'mode': 's3',
                                               'bucket': f'pk-fault-{uuid.uuid4().hex[:8]}'})
    dead = f'http://127.0.0.1:{_closed_port()}'
    cluster.clear_requests()
    run = site(inv, cluster, env={'AWS_URL': dead, 'AWS_ENDPOINT_URL': dead})
    assert run.rc != 0 and run.failed() == 1
    assert 'Traceback' not in run.output and 'MODULE FAILURE' not in run.output
    assert 'Could not connect to the endpoint URL' in run.output and dead in run.output, run.output[-3000:]
    assert cluster.writes() == []
    assert cluster.release(hv['portkey_release_name'], hv['portkey_namespace']) is None
    assert 'AWS_ENDPOINT_URL' in run.output and 'portkey_aws_region' in run.output  # the setting is named
    SURVIVED.append(FAULTS[1])

    # the AWS endpoint goes down after the bucket: IAM's connections are dropped, S3's pass
    moto = os.environ['AWS_URL']
    # the log store's names are scoped per cluster: <release>-<inventory host>-log-store
    bucket, policy = hv['portkey_log_store_aws']['bucket'], f"{hv['portkey_release_name']}-lab-log-store"
    with FaultProxy('127.0.0.1', int(moto.rsplit(':', 1)[1]), drop_if=[b'/iam/aws4_request'],
                    max_failures=20) as iam_down:
        half = site(inv, cluster, env={'AWS_URL': iam_down.url, 'AWS_ENDPOINT_URL': iam_down.url})
    assert half.rc != 0 and iam_down.failed >= 1 and 'Traceback' not in half.output, half.output[-3000:]
    assert 'The AWS endpoint did not answer' in half.output, half.output[-3000:]
    assert 'AWS_ENDPOINT_URL' in half.output
    aws = {svc: boto3.client(svc, endpoint_url=moto, region_name='us-east-1') for svc in ('s3', 'iam')}
    assert bucket in [b['Name'] for b in aws['s3'].list_buckets()['Buckets']]
    assert policy not in _policies(aws['iam'])
    assert cluster.release(hv['portkey_release_name'], hv['portkey_namespace']) is None  # stopped before the release
    # meanwhile the chart cache was damaged in a way that still renders: an extra template in the cached chart
    upstream = hv['portkey_chart_git_url'].removeprefix('file://')
    commit = subprocess.run(['git', '-C', upstream, 'rev-parse', f"{hv['portkey_chart_git_ref']}^{{commit}}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    cached = list(Path(hv['portkey_cache_dir']).glob(f'git-*/commits/{commit}/helm/enterprise/templates'))
    assert cached, 'no cached chart'
    for templates in cached:
        (templates / 'zz-tampered.yaml').write_text('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tampered\n')
    back = site(inv, cluster)  # the endpoint is back
    converged(back)
    assert 'was incomplete or changed since it was extracted: rebuilt' in back.output, back.output[-3000:]
    manifest = cluster.helm('get', 'manifest', hv['portkey_release_name'], '-n', hv['portkey_namespace']).stdout
    assert 'name: tampered' not in manifest and 'kind: Deployment' in manifest
    assert not [t for t in cached if (t / 'zz-tampered.yaml').exists()]
    assert [b['Name'] for b in aws['s3'].list_buckets()['Buckets']].count(bucket) == 1
    assert _policies(aws['iam']).count(policy) == 1
    assert serving(cluster, hv)
    SURVIVED.append(FAULTS[5])


def _policies(iam) -> list[str]:
    return [p['PolicyName'] for page in iam.get_paginator('list_policies').paginate(Scope='Local')
            for p in page['Policies']]


# ----------------------------------------------------------------------------------------------------------------
# 3. pending-upgrade left by a killed helm


def test_pending_upgrade_is_reported_and_recovered(cluster, tmp_path):
    inv, hv = inventory(tmp_path, cluster, portkey_helm_timeout='6s')
    converged(site(inv, cluster))
    name, ns = hv['portkey_release_name'], hv['portkey_namespace']
    # an interrupted helm: an upgrade waiting for never-ready pods, killed mid-wait
    helm = subprocess.Popen([str(VENV_BIN / 'helm'), 'upgrade', name, 'gateway', '--repo',
                             os.environ['PORTKEY_LAB_HELM_REPO_URL'], '--version', '1.0.8', '-n', ns,
                             '--reuse-values', '--set', 'images.gatewayImage.tag=1.11.4-neverready', '--wait',
                             '--timeout', '60s', '--kubeconfig', cluster.kubeconfig],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: cluster.status(name, ns) == 'pending-upgrade', 30, what='helm to be mid-upgrade')
    finally:
        os.killpg(helm.pid, signal.SIGKILL)
        helm.wait()
    assert cluster.status(name, ns) == 'pending-upgrade'

    run = site(inv, cluster)
    assert run.rc != 0 and run.failed() == 1
    assert 'pending-upgrade' in run.output and 'portkey_recover_pending' in run.output, run.output[-3000:]
    assert cluster.status(name, ns) == 'pending-upgrade'  # reported, not touched

    recovered = site(inv, cluster, '-e', 'portkey_recover_pending=rollback')
    converged(recovered)
    assert 'rolled back to revision' in recovered.output
    assert cluster.status(name, ns) == 'deployed' and serving(cluster, hv)
    again = site(inv, cluster)
    converged(again)
    assert release_task_state(again) == 'ok'
    SURVIVED.append(FAULTS[2])


# ----------------------------------------------------------------------------------------------------------------
# 4. two runs at once


def test_two_runs_with_different_values_through_a_flaky_apiserver(cluster, tmp_path):
    inv, hv = inventory(tmp_path, cluster)
    converged(site(inv, cluster))
    name, ns = hv['portkey_release_name'], hv['portkey_namespace']
    levels = {'debug': None, 'warn': None}
    for level in levels:
        levels[level] = variant(tmp_path, cluster, hv, f'{level}.yml',
                                portkey_environment=dict(hv['portkey_environment'], LOG_LEVEL=level))
    port = int(cluster.api_url.rsplit(':', 1)[1])
    with FaultProxy('127.0.0.1', port, share=0.15, max_failures=12, seed=14) as flaky:
        flaky_kc = tmp_path / 'flaky-kubeconfig'
        config = yaml.safe_load(Path(cluster.kubeconfig).read_text())
        config['clusters'][0]['cluster']['server'] = flaky.url
        flaky_kc.write_text(yaml.safe_dump(config))
        env = {'KUBECONFIG': str(flaky_kc), 'K8S_AUTH_KUBECONFIG': str(flaky_kc)}
        procs = [start_playbook(variant(tmp_path, cluster, hv, f'flaky-{level}.yml', portkey_kubeconfig=str(flaky_kc),
                                        portkey_environment=dict(hv['portkey_environment'], LOG_LEVEL=level)),
                                cluster, env=env) for level in levels]
        runs = [finish(p) for p in procs]
    assert flaky.failed >= 1, 'the proxy failed no connection'
    for run in runs:
        assert 'Traceback' not in run.output and 'MODULE FAILURE' not in run.output, run.output[-3000:]
    # nothing half-applied: deployed, no pending revision, the values of exactly one of the two runs
    assert cluster.status(name, ns) == 'deployed'
    history = cluster.history(name, ns)
    assert not [h for h in history if h['status'].startswith('pending')], history
    assert [h['status'] for h in history].count('deployed') == 1
    values = json.loads(cluster.helm('get', 'values', name, '-n', ns, '-o', 'json').stdout)
    deployed_level = json.dumps(values).split('"LOG_LEVEL": "', 1)[1].split('"', 1)[0] if 'LOG_LEVEL' in \
        json.dumps(values) else None
    assert deployed_level in (None, *levels)  # None: both runs failed on the flaky connection, the first values stay
    other = next(level for level in levels if level != deployed_level)
    # each rerun reports its drift honestly: the values that are not deployed are a change, then a no-op
    drift = site(levels[other], cluster)
    converged(drift)
    assert release_task_state(drift) == 'changed', drift.stdout[-3000:]
    again = site(levels[other], cluster)
    converged(again)
    assert release_task_state(again) == 'ok', again.stdout[-3000:]
    assert serving(cluster, hv)
    SURVIVED.extend([FAULTS[3], FAULTS[6]])


# ----------------------------------------------------------------------------------------------------------------
# 5. never-ready roll-out


def helm_processes(release: str) -> list[int]:
    """pids of helm processes working on ``release`` (from /proc)."""
    found = []
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / 'cmdline').read_bytes().split(b'\0')
            except OSError:
                continue
            if argv and argv[0].endswith(b'helm') and release.encode() in argv:
                found.append(int(entry.name))
    return found


def test_interrupted_playbook_stops_helm_then_neverready_rolls_back(cluster, tmp_path):
    inv, hv = inventory(tmp_path, cluster)
    converged(site(inv, cluster))
    name, ns = hv['portkey_release_name'], hv['portkey_namespace']
    # an operator's Ctrl-C / kill during an upgrade (never-ready pods keep helm in its --wait)
    slow = variant(tmp_path, cluster, hv, 'slow.yml', portkey_image=NEVERREADY, portkey_helm_timeout='120s')
    proc = start_playbook(slow, cluster)
    try:
        wait_until(lambda: cluster.status(name, ns) == 'pending-upgrade', 90, what='the upgrade to be in progress')
        assert helm_processes(name)
        proc.send_signal(signal.SIGTERM)  # ansible-playbook only: its task runs in another session
    finally:
        finish(proc)
    wait_until(lambda: not helm_processes(name), 60, what='helm to stop with the interrupted playbook')
    # helm was stopped, not killed: its atomic upgrade rolled back, nothing is left pending
    wait_until(lambda: cluster.status(name, ns) == 'deployed', 30, what='the release to be deployed again')
    assert serving(cluster, hv)
    revision = int(cluster.release(name, ns)['revision'])
    SURVIVED.append(FAULTS[7])

    bad = variant(tmp_path, cluster, hv, 'bad.yml', portkey_image=NEVERREADY, portkey_helm_timeout='8s')
    proc = start_playbook(bad, cluster)
    answers = []
    while proc.poll() is None:  # bounded by the playbook itself (helm timeout 8s), and finish() below
        answers.append(cluster.proxy_get(ns, f'{name}-gateway', 8787, '/')[0])
        time.sleep(0.5)
    run = finish(proc)
    assert run.rc != 0 and run.failed() == 1
    assert 'previous configuration is still deployed' in run.output, run.output[-3000:]
    summary = run.stdout.split("TASK [Show each cluster's release, chart and health]", 1)[-1].split('TASK [', 1)[0]
    summary = ' '.join(summary.split())  # the callback may wrap long lines
    assert 'lab: failed' in summary and 'failed: Error: UPGRADE FAILED' in summary, summary  # helm's error first
    assert len(answers) >= 5 and set(answers) == {200}, answers
    rel = cluster.release(name, ns)
    assert rel['status'] == 'deployed' and int(rel['revision']) == revision + 2  # failed, then the rollback
    assert serving(cluster, hv)
    SURVIVED.append(FAULTS[4])


# ----------------------------------------------------------------------------------------------------------------
# 6. connection faults, named before any write (on the shared lab cluster, own namespaces)


def test_connection_faults_are_named_before_any_write(lab, tmp_path):
    config = yaml.safe_load(Path(lab.kubeconfig).read_text())
    config['users'][0]['user']['token'] = 'expired-token'
    bad_kc = tmp_path / 'expired-kubeconfig'
    bad_kc.write_text(yaml.safe_dump(config))
    dead_redis = f'redis://127.0.0.1:{_closed_port()}'
    no_aws = {'AWS_ACCESS_KEY_ID': '', 'AWS_SECRET_ACCESS_KEY': '', 'AWS_SESSION_TOKEN': '',
              'AWS_SHARED_CREDENTIALS_FILE': str(tmp_path / 'none'), 'AWS_CONFIG_FILE': str(tmp_path / 'none'),
              'AWS_EC2_METADATA_DISABLED': 'true'}
    cases = {  # one run, one host per fault (each fails on its own, in parallel)
        'expired': ('token rejected (401)', {'portkey_kubeconfig': str(bad_kc)},
                    ('401 Unauthorized', 'portkey_kubeconfig', 'portkey_kube_context', 'expired')),
        'redisdown': ('external Redis down', {'portkey_environment': {
            'CACHE_STORE': 'custom', 'REDIS_URL': dead_redis, 'REDIS_TLS_ENABLED': 'false',
            'ANALYTICS_STORE': 'control_plane'}}, ('portkey_environment.REDIS_URL', 'Redis is down')),
        'noaws': ('no AWS credentials', {'portkey_aws_region': 'us-east-1', 'portkey_log_store_aws': {
            'enabled': True, 'mode': 's3', 'bucket': f'pk-fault-{uuid.uuid4().hex[:8]}'}},
            ('No AWS credentials', 'AWS_ACCESS_KEY_ID', 'AWS_PROFILE')),
    }
    hosts = {host: lab_vars(**overrides) for host, (_fault, overrides, _fragments) in cases.items()}
    inv = write_inventory(tmp_path / 'inv.yml', hosts)
    run = run_playbook('playbooks/site.yml', inv, env={**no_aws, 'ANSIBLE_STDOUT_CALLBACK': 'ansible.builtin.json'},
                       timeout=240)
    assert run.rc != 0 and 'Traceback' not in run.output and 'MODULE FAILURE' not in run.output, run.output[-3000:]
    failures = run.failures()
    for host, (fault, _overrides, fragments) in cases.items():
        last = failures[host][-1]  # the summary's failure: what the operator reads
        assert last['task'] == 'Fail the clusters that failed', failures[host]
        for fragment in fragments:
            assert fragment in last['msg'], f'{fault}: {fragment!r} not in {last}'
        assert len(last['msg']) < 1500 and 'Traceback' not in last['msg'], last
        hv = hosts[host]
        assert lab.writes_between(run.started, run.ended, [hv['portkey_namespace']]) == [], fault
        assert lab.release(hv['portkey_release_name'], hv['portkey_namespace']) is None
        SURVIVED.append(fault)
