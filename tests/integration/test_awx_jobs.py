"""The AWX job templates run as AWX runs them (ansible-runner over a private data directory, tests/integration/awx_job.py)
against the lab: Deploy, Drift check, Verify and Uninstall of one release, in one namespace.

The inventory is a project inventory synced the way AWX syncs it, with no vault file: every secret comes from the
"Portkey Gateway" credential (injected vault_* extra vars), the cluster from the "Portkey Kubeconfig" credential
(Deploy, Drift) or AWX's bearer-token credential (Verify, Uninstall), AWS from AWX's AWS credential. The surveys'
optional questions are left blank, as "" (Deploy) and as null (Verify, Uninstall): the inventory's values hold.
"""
from __future__ import annotations

import base64
import json
import os
import re
import uuid
from pathlib import Path

import pytest
import yaml

from _awx_job import ROOT, copy_project, run_job, sync_inventory
from conftest import lab_token

pytestmark = pytest.mark.usefixtures('lab')

SUFFIX = uuid.uuid4().hex[:6]
RELEASE, NAMESPACE = f'awx-{SUFFIX}', f'awx-{SUFFIX}'
# not secrets of the site: endpoints the site would set in AWX's "Extra Environment Variables" (AWX_TASK_ENV)
TASK_ENV_KEYS = ('AWS_ENDPOINT_URL', 'AWS_URL', 'AWS_DEFAULT_REGION', 'AWS_REGION', 'PORTKEY_LAB_CHART_GIT_LEGACY',
                 'PORTKEY_LAB_DIR')
INVENTORY_SOURCE = 'inventories/awx-job-test'


def _credentials(kube: str) -> tuple[list, dict]:
    secrets = {
        'client_auth': os.environ['PORTKEY_LAB_CLIENT_AUTH'],
        'organisations_to_sync': 'org-awx-' + SUFFIX,
        'registry_username': 'lab-user',
        'registry_password': os.environ['PORTKEY_LAB_REGISTRY_PASSWORD'],
        'log_store_access_key': 'AKIAAWX' + SUFFIX.upper(),
        'log_store_secret_key': 'awx-log-store-secret-' + uuid.uuid4().hex,
    }
    kubeconfig = Path(os.environ['KUBECONFIG']).read_text()
    cluster = (('Portkey Kubeconfig', {'kubeconfig': kubeconfig}) if kube == 'kubeconfig' else
               ('kubernetes_bearer_token', {'host': os.environ['PORTKEY_LAB_API_URL'], 'bearer_token': lab_token(),
                                            'verify_ssl': False}))
    aws = ('aws', {'username': os.environ['AWS_ACCESS_KEY_ID'], 'password': os.environ['AWS_SECRET_ACCESS_KEY']})
    return [('Portkey Gateway', secrets), cluster, aws], secrets


def _inventory_files() -> dict[str, str]:
    """The lab inventory as an AWX site keeps it in its project: no vault file, no kubeconfig path (credential)."""
    group_vars = yaml.safe_load((ROOT / 'inventories/lab/group_vars/portkey_gateways/main.yml').read_text())
    group_vars.pop('portkey_kubeconfig')
    # lean: one replica, no PodDisruptionBudget, no log bucket (test_aws_roles covers it); static log store keys stay
    group_vars.update(portkey_release_name=RELEASE, portkey_namespace=NAMESPACE, portkey_helm_timeout='30s',
                      portkey_verify_timeout=20, portkey_replicas=1, portkey_high_availability={'pdb': False},
                      portkey_log_store_aws={'enabled': False},
                      portkey_image_credentials={'username': '{{ vault_portkey_registry_username }}',
                                                 'password': '{{ vault_portkey_registry_password }}'})
    hosts = yaml.safe_load((ROOT / 'inventories/lab/hosts.yml').read_text())
    return {'hosts.yml': yaml.safe_dump(hosts), 'group_vars/portkey_gateways/main.yml': yaml.safe_dump(group_vars)}


@pytest.fixture(scope='module')
def jobs(lab, tmp_path_factory):
    base = tmp_path_factory.mktemp('awx')
    task_env = {k: os.environ[k] for k in TASK_ENV_KEYS if k in os.environ}
    files = _inventory_files()
    # the inventory source's sync (once, as AWX's inventory update), from a project copy that has the inventory
    project = copy_project(base / 'sync' / 'project')
    for rel, text in files.items():
        (project / INVENTORY_SOURCE / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / INVENTORY_SOURCE / rel).write_text(text)
    inventory = sync_inventory(project, INVENTORY_SOURCE, task_env)
    common = dict(inventory_source=INVENTORY_SOURCE, inventory_files=files, inventory=inventory, task_env=task_env)
    results = {}
    creds, secrets = _credentials('kubeconfig')
    results['deploy'] = run_job(base, 'Portkey Gateway - Deploy', credentials=creds, blank='', job_id=11,
                                collections_env_key='ANSIBLE_COLLECTIONS_PATH', **common)
    results['deployed'] = lab.release(RELEASE, NAMESPACE)
    results['deployed_secrets'] = (lab.get(f'/api/v1/namespaces/{NAMESPACE}/secrets') or {'items': []})['items']
    # someone removes the egress NetworkPolicy by hand: the drift check must name it and change nothing
    policies = lab.get(f'/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies') or {'items': []}
    for item in policies['items']:
        lab._api('DELETE', f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies/{item['metadata']['name']}")
    results['removed_policies'] = [i['metadata']['name'] for i in policies['items']]
    results['drift'] = run_job(base, 'Portkey Gateway - Drift check', credentials=creds, job_id=12,
                               collections_env_key='ANSIBLE_COLLECTIONS_PATHS', **common)
    results['after_drift'] = (lab.release(RELEASE, NAMESPACE),
                              lab.get(f'/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies'))
    creds_token = _credentials('token')[0]
    results['verify'] = run_job(base, 'Portkey Gateway - Verify', credentials=creds_token, blank=None, job_id=13,
                                **common)
    results['uninstall'] = run_job(base, 'Portkey Gateway - Uninstall', credentials=creds_token, blank=None,
                                   job_id=14, **common)
    results['secrets'] = secrets
    return results


def _explain(job) -> str:
    return f'status {job.status} rc {job.rc}; failures {job.host_failures()}\n{job.stdout[-3000:]}'


def test_deploy_job_with_blank_survey_answers_and_credentials_only(jobs, lab):
    deploy = jobs['deploy']
    assert deploy.status == 'successful' and deploy.rc == 0, _explain(deploy)
    extravars = (deploy.private_data_dir / 'env' / 'extravars').read_text()
    # the survey's blank answers went to the job as AWX sends them, and changed nothing
    assert "survey_portkey_chart_version: !unsafe ''" in extravars and "survey_portkey_release_name: !unsafe ''" in extravars
    assert not (deploy.private_data_dir / 'project' / INVENTORY_SOURCE / 'group_vars/portkey_gateways/vault.yml').exists()
    summary = deploy.artifacts['portkey_summary']['lab']
    assert summary['status'] == 'healthy' and summary['release'] == RELEASE and summary['namespace'] == NAMESPACE
    assert 'release' in summary['changed']
    release = jobs['deployed']
    assert release and release['status'] == 'deployed' and release['revision'] == '1'
    # the credential's secrets reached the cluster (the image pull secret holds the registry password)
    decoded = []
    for secret in jobs['deployed_secrets']:
        for value in (secret.get('data') or {}).values():
            text = base64.b64decode(value).decode(errors='replace')
            decoded.append(text)
            if '"auths"' in text:  # a dockerconfigjson: base64 user:password inside
                decoded += [base64.b64decode(a['auth']).decode() for a in json.loads(text)['auths'].values()]
    for field in ('client_auth', 'registry_password'):
        assert any(jobs['secrets'][field] in text for text in decoded), f'{field} of the credential is in no Secret'


def test_drift_check_names_what_drifted_and_changes_nothing(jobs, lab):
    drift = jobs['drift']
    assert jobs['removed_policies'], 'the deploy created no NetworkPolicy to remove'
    assert drift.status == 'failed' and drift.rc != 0, _explain(drift)
    assert '--check' in (drift.private_data_dir / 'env' / 'cmdline').read_text()
    summary = drift.artifacts['portkey_summary']['lab']
    assert summary['changed'] == ['network policy'], summary
    assert 'would change: network policy' in summary['line']
    assert any('drifted from the inventory: network policy would change' in m
               for m in drift.host_failures().get('lab', [])), drift.host_failures()
    # check mode: the policy is still missing and the release untouched
    release, policies = jobs['after_drift']
    assert not (policies or {'items': []})['items']
    assert release['revision'] == '1'


def test_verify_job_with_null_survey_answers_and_bearer_token(jobs):
    verify = jobs['verify']
    assert verify.status == 'successful', _explain(verify)
    assert 'survey_portkey_release_name: null' in (verify.private_data_dir / 'env' / 'extravars').read_text()
    assert re.search(r"TASK \[portkey_ai\.gateway\.verify : Verify the gateway[^\n]*\n(ok|changed): \[lab\]", verify.stdout)


def test_uninstall_job_removes_the_release(jobs, lab):
    uninstall = jobs['uninstall']
    assert uninstall.status == 'successful', _explain(uninstall)
    assert lab.release(RELEASE, NAMESPACE) is None


def test_no_secret_in_job_output_events_or_files_left_behind(jobs):
    secrets = [v for k, v in jobs['secrets'].items() if k not in ('organisations_to_sync', 'registry_username')]
    secrets.append(lab_token())  # the bearer-token credential's token (and the kubeconfig credential's)
    for name in ('deploy', 'drift', 'verify', 'uninstall'):
        job = jobs[name]
        texts = [job.stdout, *map(str, job.events)]
        # ansible-runner's record of the job's environment (AWX's injected env vars, like env/): 0600, checked below
        runner_env = set((job.private_data_dir / 'artifacts').glob('*/command'))
        for path in job.private_data_dir.rglob('*'):
            if (path.is_file() and not path.is_symlink() and path.parent != job.private_data_dir / 'env'
                    and path not in runner_env):
                texts.append(path.read_text(errors='replace'))
        for secret in secrets:
            assert not any(secret in text for text in texts), f'{name}: a credential secret leaked'
        # AWX's injected files: private to the job's user
        for path in [*(job.private_data_dir / 'env').iterdir(), *runner_env]:
            assert path.stat().st_mode & 0o077 == 0, path


def test_job_slice_has_its_own_canary_stop_rule_and_summary(tmp_path):
    """Deploy sliced in 2 over clusters a, b, c: slice 1 runs a and c only. With portkey_serial given at launch
    (ask_variables_on_launch) as a canary batch of one, and the canary failing on bad input (before any write), the
    slice stops: c is not run, the summary lists exactly the slice's clusters, and the job fails."""
    hostvars = {name: {'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}',
                       'portkey_chart_source': 'no-such-source', 'portkey_release_name': f'slice-{name}'}
                for name in ('a', 'b', 'c')}
    inventory = {'_meta': {'hostvars': hostvars}, 'all': {'children': ['portkey_gateways', 'ungrouped']},
                 'portkey_gateways': {'hosts': sorted(hostvars)}}
    job = run_job(tmp_path, 'Portkey Gateway - Deploy', inventory_source=INVENTORY_SOURCE, inventory=inventory,
                  credentials=[('Portkey Gateway', {'client_auth': 'slice-' + SUFFIX, 'organisations_to_sync': 'o'})],
                  launch_vars={'portkey_serial': [1, '100%'], 'portkey_max_fail_percentage': 0}, blank=None,
                  slice_of=(1, 2), job_id=21)
    assert job.status == 'failed', _explain(job)
    summary = job.artifacts['portkey_summary']
    assert set(summary) == {'a', 'c'}, summary
    assert summary['a']['status'] == 'failed' and 'no-such-source' in summary['a']['msg'], summary['a']
    assert summary['c']['status'] == 'not run' and 'roll-out stopped' in summary['c']['msg'], summary['c']
    assert not re.search(r'^b\s+:', job.stdout, re.M)
