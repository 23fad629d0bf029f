"""Shared fixtures for the integration tests: they run ansible-playbook against the local lab.

The lab must be up (`make lab-up`, or `make test` which starts it). Its variables come from the environment when
exported (`set -a; . .lab/env; set +a`), else, when that lab runs, from the env file of $PORTKEY_LAB_DIR (default
.lab/), read with lab.services' parser. Playbooks run through lab.runner (one runner for the tests and the bench).
Each test uses its own release name and namespace, so tests never see each other's objects. See
docs/dev/testing.md, "Test harness".
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# The checkout (lab.services, lab.runner); for tests/integration/plugins (plugin tests that start processes, moved
# from tests/unit): ansible_collections.portkey_ai.gateway from this checkout, and the unit tests' helpers
# (tests/unit/plugins/modules/module_runner.py, constants of tests/unit/plugins/module_utils).
for _path in (ROOT / 'tests' / 'unit' / 'plugins' / 'module_utils', ROOT / 'tests' / 'unit' / 'plugins' / 'modules',
              ROOT / 'collections', ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
from lab import runner, services  # noqa: E402
from lab.runner import PlaybookRun  # noqa: E402 (the tests import it from here)

VENV_BIN = ROOT / '.venv' / 'bin'
WRITE_METHODS = {'POST', 'PUT', 'PATCH', 'DELETE'}
LAB_DIR = services.default_lab_dir()

# A running lab whose variables are not exported: read its env file (only the variables not already set). A lab
# that is down is left alone: tests that need it say so, the others start their own services.
if not os.environ.get('PORTKEY_LAB_API_URL') and services.LabDir(LAB_DIR).env_file.exists() and \
        services.is_alive(services.read_json(services.LabDir(LAB_DIR).record('apiserver'))):
    for _key, _value in services.read_env(LAB_DIR).items():
        os.environ.setdefault(_key, _value)


# `make test` (scripts/run_tests.py) names the file; a plain pytest run writes beside the other test output.
REPORT_FILE = Path(os.environ.get('PORTKEY_TEST_REPORT', ROOT / 'tests' / 'output' / 'integration-report.txt'))


def report_line(config, line: str) -> None:
    """Show a count line of the reliability suites (corpus, leaks, faults) on the terminal, uncaptured, and append
    it to REPORT_FILE, which `make test` prints in its summary."""
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    with REPORT_FILE.open('a', encoding='utf-8') as handle:
        handle.write(line + '\n')
    reporter = config.pluginmanager.get_plugin('terminalreporter')
    capture = config.pluginmanager.get_plugin('capturemanager')
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line('')
            reporter.write_line(line)
    else:
        print(line)


# Every AWS API call the playbooks' modules make goes to this file (tests/integration/aws_calls/sitecustomize.py),
# for test_iam_policy.py, which checks that docs/getting-started-eks.md's controller policy allows each of them.
AWS_CALL_LOG = Path(os.environ.get('PORTKEY_AWS_CALL_LOG', ROOT / 'tests' / 'output' / 'aws-calls.log'))


AWS_CALL_LOG.parent.mkdir(parents=True, exist_ok=True)
AWS_CALL_LOG.write_text('')  # one session's calls (this module is imported once per pytest run)
# Every process the tests start (ansible-playbook, ansible-runner, molecule) logs its AWS calls to it.
os.environ.update(runner.aws_call_env(AWS_CALL_LOG))


def pytest_collection_modifyitems(session, config, items) -> None:
    """Tests marked ``after_aws_runs`` (they read AWS_CALL_LOG) run last."""
    items.sort(key=lambda item: item.get_closest_marker('after_aws_runs') is not None)


def _require_lab() -> None:
    missing = [v for v in ('KUBECONFIG', 'PORTKEY_LAB_API_URL', 'AWS_URL', 'PORTKEY_LAB_CHART_GIT_LEGACY')
               if not os.environ.get(v)]
    if missing:
        pytest.fail(f'the lab is not up or its env is not loaded (missing {missing}): run `make lab-up` and '
                    f'`set -a; . .lab/env; set +a`, or `make integration`')


def _request_namespace(path: str) -> str | None:
    """The namespace a Kubernetes API path is in (/api/v1/namespaces/NS/..., or the Namespace NS itself)."""
    match = re.search(r'/namespaces/([^/?]+)', path)
    return match.group(1) if match else None


class Lab:
    """The lab's endpoints and the emulator's request log."""

    def __init__(self, kubeconfig: str | None = None) -> None:
        """The lab's own cluster, or with `kubeconfig` one that `labctl cluster-up` started."""
        _require_lab()
        self.kubeconfig = kubeconfig or os.environ['KUBECONFIG']
        self.api_url = (yaml.safe_load(Path(kubeconfig).read_text())['clusters'][0]['cluster']['server']
                        if kubeconfig else os.environ['PORTKEY_LAB_API_URL']).rstrip('/')

    def _api(self, method: str, path: str, body: dict | None = None, content_type: str = 'application/json'):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api_url + path, data=data, method=method,
                                     headers={'Content-Type': content_type})
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return json.loads(raw) if raw else None

    def get(self, path: str):
        try:
            return self._api('GET', path)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def clear_requests(self) -> None:
        self._api('DELETE', '/_lab/requests')

    def requests(self) -> list[dict]:
        return self._api('GET', '/_lab/requests')

    def writes(self) -> list[dict]:
        return [r for r in self.requests() if r['method'] in WRITE_METHODS]

    def requests_between(self, start: float, end: float, namespaces=None) -> list[dict]:
        """Requests logged in [start, end] (time.time() of this machine), without clearing the log (other tests
        may share the lab). With `namespaces`: only requests in those namespaces (or on those Namespace objects),
        so parallel users of the lab do not count; cluster-scoped requests (discovery, POST /api/v1/namespaces)
        cannot be told apart and are left out then."""
        found = [r for r in self.requests() if start <= float(r.get('ts', 0)) <= end]
        if namespaces is not None:
            found = [r for r in found if _request_namespace(r['path']) in set(namespaces)]
        return found

    def writes_between(self, start: float, end: float, namespaces=None) -> list[dict]:
        return [r for r in self.requests_between(start, end, namespaces) if r['method'] in WRITE_METHODS]

    def proxy_get(self, namespace: str, service: str, port: int, path: str = '') -> tuple[int, str]:
        url = f'{self.api_url}/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/{path.lstrip("/")}'
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.status, resp.read().decode(errors='replace')
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors='replace')

    def helm(self, *args: str, binary: str = 'helm') -> subprocess.CompletedProcess:
        return subprocess.run([str(VENV_BIN / binary), '--kubeconfig', self.kubeconfig, *args],
                              capture_output=True, text=True, check=False)

    def release(self, name: str, namespace: str) -> dict | None:
        out = self.helm('list', '-n', namespace, '-a', '-o', 'json', '--filter', f'^{re.escape(name)}$')
        items = json.loads(out.stdout or '[]')
        return items[0] if items else None


@pytest.fixture(scope='session')
def lab() -> Lab:
    return Lab()


def aws_client(service: str, region: str = 'us-east-1'):
    """A boto3 client of the lab's moto."""
    import boto3  # noqa: PLC0415 (only the AWS tests need it)
    return boto3.client(service, endpoint_url=os.environ['AWS_URL'], region_name=region)


def lab_token(cluster: str | None = None) -> str:
    """The bearer token the lab's API emulator accepts (lab/apiserver/auth.py): labctl keeps it (0600) in the
    emulator's state dir and writes it into the kubeconfig. The lab's own cluster, or with `cluster` one that
    `labctl cluster-up` started. A request with another bearer token gets 401, as from a real API server."""
    lab = services.LabDir(LAB_DIR)
    return services.apiserver_token(services.apiserver_state(lab, cluster or services.DEFAULT_CLUSTER))


def labctl(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """lab/labctl.py on this session's lab (e.g. cluster-up NAME: one more emulated cluster, its kubeconfig in
    $PORTKEY_LAB_DIR/clusters/NAME/kubeconfig); `env` reaches the emulators it starts. Fails the test when it fails."""
    try:
        return services.labctl(*args, lab_dir=LAB_DIR, env=env, timeout=120)
    except services.LabError as exc:
        pytest.fail(str(exc))


PORTKEY_PRINCIPAL = 'arn:aws:iam::299329113195:root'  # Portkey's AWS principal, private_link's default


def endpoint_services(ec2, owner: str) -> list[dict]:
    """The VPC endpoint service configurations the private_link role tagged for `owner` (<namespace>/<release>)."""
    return [c for c in ec2.describe_vpc_endpoint_service_configurations()['ServiceConfigurations']
            if {'Key': 'portkey_ai.gateway', 'Value': owner} in c.get('Tags', [])]


# ansible-playbook's environment for runs whose summary is read from the CUSTOM STATS (custom_stats_summary)
STATS_ENV = {'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json', 'ANSIBLE_SHOW_CUSTOM_STATS': '1', 'ANSIBLE_NOCOLOR': '1',
             'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg')}


def custom_stats_summary(output: str) -> dict:
    """The portkey_summary artifact (set_stats) of a run with STATS_ENV: host -> summary."""
    start = output.index('CUSTOM STATS')
    return json.JSONDecoder().raw_decode(output[output.index('{', start):])[0]['portkey_summary']


def lab_vars(generation: str = '1.0', **overrides) -> dict:
    """Inventory vars for one lab cluster: a unique release/namespace, chart of the given generation."""
    suffix = uuid.uuid4().hex[:6]
    chart = ({'portkey_chart_git_url': os.environ['PORTKEY_LAB_CHART_GIT_LEGACY'], 'portkey_chart_git_ref': 'v1.0.8',
              'portkey_chart_git_path': 'helm/enterprise',
              'portkey_image': {'repository': 'docker.io/portkeyai/gateway_enterprise', 'tag': '1.11.4'}}
             if generation == '1.0' else
             {'portkey_chart_git_url': os.environ['PORTKEY_LAB_CHART_GIT_CURRENT'], 'portkey_chart_git_ref': 'gateway-1.7.7',
              'portkey_chart_git_path': 'charts/portkey-gateway',
              'portkey_image': {'repository': 'docker.io/portkeyai/gateway_enterprise', 'tag': '2.13.0'}})
    base = {
        'ansible_connection': 'local',
        'ansible_python_interpreter': str(VENV_BIN / 'python'),
        'portkey_release_name': f'pk-{suffix}',
        'portkey_namespace': f'ns-{suffix}',
        'portkey_kubeconfig': os.environ['KUBECONFIG'],
        'portkey_chart_source': 'git',
        'portkey_cache_dir': str(LAB_DIR / 'chart-cache'),
        'portkey_image_credentials': {'username': 'lab-user', 'password': '{{ vault_portkey_registry_password }}'},
        'vault_portkey_registry_password': 'lab-registry-password-' + suffix,
        'portkey_client_auth': 'lab-client-auth-' + suffix,
        'portkey_organisations_to_sync': 'org-' + suffix,
        'portkey_environment': {'CACHE_STORE': 'redis', 'ANALYTICS_STORE': 'control_plane'},
        'portkey_helm_timeout': '20s',
        'portkey_health_path': '/',
        'portkey_verify_timeout': 20,
        'portkey_network_policy': {'enabled': True, 'mode': 'allow_all'},
        **chart,
    }
    base.update(overrides)
    return base


def uninstall_releases(lab: Lab, hosts: dict[str, dict]) -> None:
    """Clean-up of a test's hosts: uninstall every release still installed (no wait)."""
    for host in hosts.values():
        release, namespace = host['portkey_release_name'], host['portkey_namespace']
        if lab.release(release, namespace):
            lab.helm('uninstall', release, '-n', namespace, '--wait=false')


def current_chart_copy(dest: Path, ref: str = 'gateway-1.7.7') -> Path:
    """A plain copy of the lab's 1.7.x chart at a tag of its git repository (charts/portkey-gateway under dest)."""
    bare = os.environ['PORTKEY_LAB_CHART_GIT_CURRENT'].removeprefix('file://')
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(['git', '--git-dir', bare, 'archive', ref, 'charts/portkey-gateway'],
                             capture_output=True, check=True)
    subprocess.run(['tar', '-x', '-C', str(dest)], input=archive.stdout, check=True)
    return dest / 'charts' / 'portkey-gateway'


def write_inventory(path: Path, hosts: dict[str, dict]) -> Path:
    inv = {'portkey_gateways': {'hosts': hosts}}
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path


def run_playbook(playbook: str, inventory: Path, *args: str, env: dict | None = None,
                 timeout: int = 300) -> PlaybookRun:
    """lab.runner.run_playbook with this session's environment (the lab's variables, the AWS call log)."""
    return runner.run_playbook(playbook, inventory, *args, env=env, timeout=timeout)
