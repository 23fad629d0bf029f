"""Faults during a deploy (issue "Reliability and security"), against the lab.

Every test runs on its OWN extra emulator (`labctl cluster-up fault-XXXXXX`, `cluster-down` in teardown), so killing
or confusing it never disturbs another test. Waiting is bounded polling only. The module prints
"faults survived: N/M" at the end.

1. the API emulator killed during an upgrade, restarted EMPTY (its state is in memory): a rerun converges;
2. moto down while an AWS role is enabled: a clear error naming the endpoint, and nothing written to the cluster;
3. a release left in pending-upgrade by a killed helm: reported with portkey_recover_pending named, recovered by
   -e portkey_recover_pending=rollback;
4. two site.yml runs at once with a change: one waits or fails cleanly, the release stays sound, a rerun is a no-op;
5. a never-ready roll-out rolls back while the old revision keeps serving.
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

import pytest

from conftest import ROOT, VENV_BIN, Lab, PlaybookRun, lab_vars, report_line, run_playbook, write_inventory

LABCTL = [str(VENV_BIN / 'python'), str(ROOT / 'lab' / 'labctl.py')]
LAB_DIR = Path(os.environ.get('PORTKEY_LAB_DIR') or ROOT / '.lab')
NEVERREADY = {'repository': 'docker.io/portkeyai/gateway_enterprise', 'tag': '1.11.4-neverready'}
RELEASE_TASK = re.compile(r'TASK \[portkey_ai\.gateway\.gateway : Ensure the gateway release is present\] \*+\n'
                          r'(?P<state>ok|changed|fatal|failed): \[lab\]')
FAULTS = ('apiserver killed during upgrade', 'moto down', 'pending-upgrade recovery', 'concurrent runs',
          'never-ready roll-out')
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


def labctl(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([*LABCTL, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, 'PORTKEY_LAB_DIR': str(LAB_DIR)})
    assert proc.returncode == 0, f'labctl {" ".join(args)} failed: {proc.stdout}{proc.stderr}'
    return proc


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
    full_env = dict(os.environ)
    full_env['PATH'] = f"{VENV_BIN}:{full_env.get('PATH', '')}"
    full_env.update(ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'), ANSIBLE_NOCOLOR='1', **env_for(fc), **(env or {}))
    return subprocess.Popen([str(VENV_BIN / 'ansible-playbook'), str(ROOT / 'playbooks/site.yml'), '-i', str(inv),
                             *args], cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 180) -> PlaybookRun:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f'ansible-playbook did not finish within {timeout}s:\n{out[-3000:]}')
    return PlaybookRun(proc.returncode, out, err)


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

    cluster.start()  # a restarted emulator is empty: its state was in memory
    assert cluster.alive() and cluster.history(name, ns) == []
    rerun = site(inv, cluster)
    converged(rerun)
    assert release_task_state(rerun) == 'changed'
    assert cluster.status(name, ns) == 'deployed' and 'healthy' in rerun.stdout
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
    SURVIVED.append(FAULTS[1])


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


def test_two_concurrent_runs_do_not_corrupt_the_release(cluster, tmp_path):
    inv, hv = inventory(tmp_path, cluster)
    converged(site(inv, cluster))
    name, ns = hv['portkey_release_name'], hv['portkey_namespace']
    changed = variant(tmp_path, cluster, hv, 'changed.yml',
                      portkey_environment=dict(hv['portkey_environment'], LOG_LEVEL='debug'))
    procs = [start_playbook(changed, cluster), start_playbook(changed, cluster)]
    runs = [finish(p) for p in procs]
    for run in runs:
        assert 'Traceback' not in run.output
        if run.rc != 0:  # the loser fails cleanly, saying why
            assert 'another operation' in run.output, run.output[-3000:]
    assert any(r.rc == 0 for r in runs), [r.output[-2000:] for r in runs]
    assert cluster.status(name, ns) == 'deployed'
    assert not [h for h in cluster.history(name, ns) if h['status'].startswith('pending')]
    again = site(changed, cluster)
    converged(again)
    assert release_task_state(again) == 'ok', again.stdout[-3000:]
    assert serving(cluster, hv)
    SURVIVED.append(FAULTS[3])


# ----------------------------------------------------------------------------------------------------------------
# 5. never-ready roll-out


def test_neverready_rollout_rolls_back_and_keeps_serving(cluster, tmp_path):
    inv, hv = inventory(tmp_path, cluster)
    converged(site(inv, cluster))
    name, ns = hv['portkey_release_name'], hv['portkey_namespace']
    bad = variant(tmp_path, cluster, hv, 'bad.yml', portkey_image=NEVERREADY, portkey_helm_timeout='8s')
    proc = start_playbook(bad, cluster)
    answers = []
    while proc.poll() is None:  # bounded by the playbook itself (helm timeout 8s), and finish() below
        answers.append(cluster.proxy_get(ns, f'{name}-gateway', 8787, '/')[0])
        time.sleep(0.5)
    run = finish(proc)
    assert run.rc != 0 and run.failed() == 1
    assert 'previous configuration is still deployed' in run.output, run.output[-3000:]
    assert len(answers) >= 5 and set(answers) == {200}, answers
    rel = cluster.release(name, ns)
    assert rel['status'] == 'deployed' and int(rel['revision']) == 3  # 1 good, 2 failed, 3 = rollback to 1
    assert serving(cluster, hv)
    SURVIVED.append(FAULTS[4])
