"""EKS authentication as on EKS: a production-profile emulator (`labctl cluster-up --eks`) serves https and accepts
only the lab's static token or an EKS token (`aws eks get-token`: a presigned STS GetCallerIdentity URL, checked
against moto's STS). Its kubeconfig uses the exec plugin, as `aws eks update-kubeconfig` writes it.

- the API server refuses what EKS refuses (no token, a wrong token, an expired EKS token: 401);
- site.yml converges through the exec kubeconfig: helm (gateway_release), the kubernetes Python client
  (kubernetes.core lookups and modules, gateway_info) and kubectl all authenticate with `aws eks get-token`;
- without AWS credentials the run fails in preflight, before any write, naming portkey_kubeconfig /
  portkey_kube_context and what to run (`aws sso login`, `aws eks update-kubeconfig`).
"""
from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import LAB_DIR, VENV_BIN, lab_token, lab_vars, labctl, run_playbook, write_inventory

NO_AWS_CREDENTIALS = {'AWS_ACCESS_KEY_ID': '', 'AWS_SECRET_ACCESS_KEY': '', 'AWS_SESSION_TOKEN': '',
                      'AWS_SHARED_CREDENTIALS_FILE': '/nonexistent/credentials', 'AWS_CONFIG_FILE': '/nonexistent/config',
                      'AWS_EC2_METADATA_DISABLED': 'true'}


class EksCluster:
    def __init__(self, name: str):
        self.name = name
        self.kubeconfig = str(LAB_DIR / 'clusters' / name / 'kubeconfig')
        doc = yaml.safe_load(Path(self.kubeconfig).read_text())
        cluster = doc['clusters'][0]['cluster']
        self.url = cluster['server']
        self.exec = doc['users'][0]['user']['exec']
        self.tls = ssl.create_default_context(cafile=cluster['certificate-authority'])

    def status(self, path: str, token: str | None = None) -> int:
        headers = {'Authorization': f'Bearer {token}'} if token is not None else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(self.url + path, headers=headers), timeout=10,
                                        context=self.tls) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def requests(self) -> list[dict]:
        with urllib.request.urlopen(self.url + '/_lab/requests', timeout=10, context=self.tls) as resp:
            return json.loads(resp.read())

    def get_token(self) -> str:
        env = dict(os.environ, **{e['name']: e['value'] for e in self.exec['env']})
        out = subprocess.run([self.exec['command'], *self.exec['args']], env=env, capture_output=True, text=True,
                             check=True, timeout=60)
        return json.loads(out.stdout)['status']['token']


@pytest.fixture(scope='module')
def eks(lab):
    name = f'eks-{uuid.uuid4().hex[:6]}'
    labctl('cluster-up', '--eks', name)
    try:
        yield EksCluster(name)
    finally:
        labctl('cluster-down', name)


def presigned_url(token: str) -> str:
    encoded = token.removeprefix('k8s-aws-v1.')
    return base64.urlsafe_b64decode(encoded + '=' * (-len(encoded) % 4)).decode()


def eks_token(url: str) -> str:
    return 'k8s-aws-v1.' + base64.urlsafe_b64encode(url.encode()).decode().rstrip('=')


def test_api_server_refuses_what_eks_refuses(eks):
    token = eks.get_token()
    assert token.startswith('k8s-aws-v1.')
    url = presigned_url(token)
    assert 'Action=GetCallerIdentity' in url and 'x-k8s-aws-id' in urllib.parse.unquote(url)
    static = lab_token(eks.name)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    expired = url.replace(query['X-Amz-Date'], '20200101T000000Z')
    unsigned_cluster = url.replace('x-k8s-aws-id', 'x-other')
    other_action = url.replace('GetCallerIdentity', 'AssumeRole')
    assert eks.status('/api/v1/namespaces', token) == 200
    assert eks.status('/api/v1/namespaces', static) == 200
    assert eks.status('/version') == 200            # public info, anonymous as on EKS
    assert {label: eks.status('/api/v1/namespaces', bad) for label, bad in {
        'none': None, 'wrong': 'not-the-token', 'wrong-eks': 'k8s-aws-v1.bm90LWEtdXJs',
        'expired': eks_token(expired), 'cluster-not-signed': eks_token(unsigned_cluster),
        'not-get-caller-identity': eks_token(other_action)}.items()} == {
        label: 401 for label in ('none', 'wrong', 'wrong-eks', 'expired', 'cluster-not-signed',
                                 'not-get-caller-identity')}


def test_helm_kubectl_and_kubernetes_client_authenticate_with_aws_eks_get_token(eks, tmp_path):
    kubectl = subprocess.run([str(VENV_BIN / 'kubectl'), '--kubeconfig', eks.kubeconfig, 'get', 'ns', '-o', 'name'],
                             capture_output=True, text=True, check=False, timeout=60)
    assert kubectl.returncode == 0 and 'namespace/default' in kubectl.stdout, kubectl.stderr
    inventory = write_inventory(tmp_path / 'inv.yml', {'lab': {
        'ansible_connection': 'local', 'ansible_python_interpreter': str(VENV_BIN / 'python'),
        'portkey_kubeconfig': eks.kubeconfig}})
    run = run_playbook('tests/integration/playbooks/eks_auth.yml', inventory)
    assert run.rc == 0 and run.failed() == 0, run.output[-3000:]
    agents = {r.get('agent', '') for r in eks.requests()}
    # each client reached the cluster (anonymous requests get 401 here): helm, kubectl, the Python client
    assert any(a.startswith('Helm') for a in agents) and any(a.startswith('kubectl') for a in agents), agents
    assert any(a.startswith('OpenAPI-Generator') for a in agents), agents


def test_missing_aws_credentials_fail_preflight_naming_the_variables_and_the_fix(eks, tmp_path):
    hostvars = lab_vars('1.7', portkey_kubeconfig=eks.kubeconfig)
    before = len(eks.requests())
    run = run_playbook('playbooks/site.yml', write_inventory(tmp_path / 'inv.yml', {'lab': hostvars}),
                       env={**NO_AWS_CREDENTIALS, 'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json'})
    assert run.rc != 0
    for text in ('portkey_kubeconfig', 'portkey_kube_context', 'aws sso login', 'aws eks update-kubeconfig',
                 f'--cluster-name {eks.name}', 'Unable to locate credentials'):
        assert text in run.output, text
    writes = [r for r in eks.requests()[before:] if r['method'] in ('POST', 'PUT', 'PATCH', 'DELETE')]
    assert writes == []
