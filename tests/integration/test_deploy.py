"""Deploy core, through the real playbooks against the lab, for both chart generations (1.0.x legacy git chart,
1.7.x current git chart).

To stay fast on a small machine, hosts that need the same playbook run share it: one inventory holds one host per
(scenario, generation), each with its own release and namespace, and each step runs one ansible-playbook for all the
hosts it concerns (--limit). The steps run once per module, in order, and every test asserts on its hosts' part:

  check_first  site.yml --check --diff before anything exists, idem_*     (test 0)
  converge     site.yml            idem_*, helm4_*, tpl_*, neverready_*    (all install)
  noop         site.yml            idem_*, helm4_*                         (test 1, helm 4)
  check_diff   site.yml --check --diff after an input change, idem_*       (test 2)
  tpl_never    site.yml            tpl_* (template-only chart change), neverready_* (-neverready image)   (3, 4)
  uninstall    uninstall.yml twice, every host                             (test 5, helm 4)

The "no write" checks read the emulator's request log for the run's time window, restricted to the run's namespaces
and cluster-scoped paths (the log is not cleared: other tests may share the lab).
"""
from __future__ import annotations

import base64
import importlib.util
import json
import re
import stat
from pathlib import Path

import pytest
import yaml

from conftest import (
    ROOT, VENV_BIN, Lab, PlaybookRun, current_chart_copy, lab_vars, run_playbook, uninstall_releases, write_inventory,
)

GENERATIONS = ['1.0', '1.7']
IMAGE_TAG = {'1.0': '1.11.4', '1.7': '2.13.0'}
CHART_VERSION = {'1.0': '1.0.8', '1.7': '1.7.7'}
TPL_LABEL = 'portkey.ai/lab-template-change'
GATEWAY_SAYS = 'AI Gateway says hey'
# The lab's template-only change (lab/labctl.py): one label on the gateway Deployment, same chart version.
TPL_ANCHOR = '  labels:\n    {{- include "portkey.labels" . | nindent 4 }}\n'
TPL_EXTRA = '    portkey.ai/lab-template-change: "true"\n'


def gid(generation: str) -> str:
    return generation.replace('.', '')


def host(scenario: str, generation: str) -> str:
    return f'{scenario}_{gid(generation)}'


# ----------------------------------------------------------------------------------------------------------------
# helpers


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def secret_needles(secret: str, username: str | None = None) -> set[str]:
    """Every form a secret can leak in: as is, inside base64 at any alignment (a Secret's data, the
    dockerconfigjson), and the registry `auth` (base64 of user:password), itself plain or inside base64."""
    forms = {secret}
    if username:
        forms.add(b64(f'{username}:{secret}'))
    needles = set()
    for form in forms:
        needles.add(form)
        raw = form.encode()
        for offset in range(3):
            enc = base64.b64encode(b'\0' * offset + raw).decode()
            start = -(-8 * offset // 6)              # first char made only of the secret's bits
            end = (8 * (offset + len(raw))) // 6      # chars after this one also hold the following bytes
            needles.add(enc[start:end])
    return {n for n in needles if len(n) >= 12}


def leaked(text: str, secrets: dict[str, set[str]]) -> list[str]:
    return sorted(name for name, needles in secrets.items() if any(n in text for n in needles))


def recap_of(run: PlaybookRun, name: str) -> dict[str, int]:
    recap = run.recap
    assert name in recap, f'{name} has no PLAY RECAP line:\n{run.output[-3000:]}'
    return recap[name]


def describe(run: PlaybookRun, tail: int = 4000) -> str:
    return f'rc={run.rc}\n--- stdout (tail)\n{run.stdout[-tail:]}\n--- stderr (tail)\n{run.stderr[-1500:]}'


def manifest_docs(lab: Lab, release: str, namespace: str, binary: str = 'helm') -> list[dict]:
    out = lab.helm('get', 'manifest', release, '-n', namespace, binary=binary)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if isinstance(d, dict)]


def gateway_objects(docs: list[dict], release: str) -> dict[str, dict]:
    """The gateway's own Deployment and Service from a manifest (not redis, not the dataservice)."""
    found = {}
    for doc in docs:
        labels = (doc.get('metadata') or {}).get('labels') or {}
        if (doc.get('kind') in ('Deployment', 'Service') and labels.get('app.kubernetes.io/instance') == release
                and labels.get('app.kubernetes.io/name') == 'gateway' and 'app.kubernetes.io/component' not in labels):
            found[doc['kind']] = doc
    assert set(found) == {'Deployment', 'Service'}, f'no gateway Deployment/Service in the manifest of {release}'
    return found


def deployment_image(doc: dict) -> str:
    return doc['spec']['template']['spec']['containers'][0]['image']


def api_path(obj: dict, namespace: str) -> str:
    """The API path of a manifest object (the kinds a gateway release holds)."""
    group_version = obj.get('apiVersion') or obj['api_version']
    kind = obj['kind']
    plural = {'NetworkPolicy': 'networkpolicies', 'Ingress': 'ingresses', 'PodDisruptionBudget': 'poddisruptionbudgets',
              'HorizontalPodAutoscaler': 'horizontalpodautoscalers'}.get(kind, kind.lower() + 's')
    name = (obj.get('metadata') or {}).get('name') or obj['name']
    prefix = '/api/v1' if group_version == 'v1' else f'/apis/{group_version}'
    return f'{prefix}/namespaces/{namespace}/{plural}/{name}'


class Steps:
    """Runs each step once (in order, on first use) and replays its result or its failure."""

    def __init__(self):
        self._done: dict[str, object] = {}

    def once(self, name, fn):
        if name not in self._done:
            try:
                self._done[name] = ('ok', fn())
            except BaseException as exc:  # noqa: BLE001 - replayed to every test that needs the step
                self._done[name] = ('error', exc)
        kind, value = self._done[name]
        if kind == 'error':
            pytest.fail(f'step {name} failed: {value!r}', pytrace=False)
        return value


# ----------------------------------------------------------------------------------------------------------------
# the deploy scenario (tests 1-5 and helm 4)


class Deploy:
    SCENARIOS = ('idem', 'helm4', 'tpl', 'neverready')

    def __init__(self, lab: Lab, tmp: Path):
        self.lab = lab
        self.tmp = tmp
        self.steps = Steps()
        self.inventory = tmp / 'inventory.yml'
        self.helm4_log = tmp / 'helm4.log'
        self.helm4 = tmp / 'helm4-logged'
        self.helm4.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {self.helm4_log}\nexec {VENV_BIN / "helm4"} "$@"\n')
        self.helm4.chmod(0o755)
        self.chart17 = current_chart_copy(tmp / 'chart-1.7.7')
        self.hosts: dict[str, dict] = {}
        for g in GENERATIONS:
            self.hosts[host('idem', g)] = lab_vars(
                g, portkey_environment={'CACHE_STORE': 'redis', 'ANALYTICS_STORE': 'control_plane',
                                        'SERVICE_NAME': 'svc-before'},
                portkey_high_availability={'pdb': True})
            self.hosts[host('helm4', g)] = lab_vars(g, portkey_helm_binary=str(self.helm4))
            tpl = lab_vars(g)
            if g == '1.7':   # the current repo has no template-only tag: a local copy of 1.7.7, changed in place
                tpl.update(portkey_chart_source='path', portkey_chart_local_path=str(self.chart17))
            self.hosts[host('tpl', g)] = tpl
            self.hosts[host('neverready', g)] = lab_vars(g)
        self.runs: dict[str, PlaybookRun] = {}
        self.snap: dict[str, dict[str, dict]] = {}   # step -> host -> {release, manifest}

    # -- helpers
    def rel(self, name: str) -> tuple[str, str]:
        return self.hosts[name]['portkey_release_name'], self.hosts[name]['portkey_namespace']

    def namespaces(self, names) -> list[str]:
        return [self.hosts[n]['portkey_namespace'] for n in names]

    def names(self, *scenarios: str) -> list[str]:
        return [host(s, g) for s in scenarios for g in GENERATIONS]

    def run(self, step: str, playbook: str, names, *args: str) -> PlaybookRun:
        write_inventory(self.inventory, self.hosts)
        result = run_playbook(playbook, self.inventory, '--limit', ','.join(names), *args, timeout=240)
        self.runs[step] = result
        return result

    def snapshot(self, step: str, names) -> None:
        snap = {}
        for name in names:
            release, namespace = self.rel(name)
            info = self.lab.release(release, namespace)
            snap[name] = {'release': info,
                          'manifest': manifest_docs(self.lab, release, namespace) if info else []}
        self.snap[step] = snap

    # -- steps
    def check_first(self) -> PlaybookRun:
        def step():
            names = self.names('idem')   # a new cluster: no namespace, no release yet (PDB and NetworkPolicy on)
            result = self.run('check_first', 'site.yml', names, '--check', '--diff')
            self.snapshot('check_first', names)
            return result
        return self.steps.once('check_first', step)

    def converge(self) -> PlaybookRun:
        def step():
            self.check_first()
            names = list(self.hosts)
            # site.yml plus one debug task per cluster reporting its role results' keys (test 1b)
            result = self.run('converge', 'tests/integration/playbooks/site_results.yml', names)
            assert result.rc == 0, describe(result)
            self.snapshot('converge', names)
            return result
        return self.steps.once('converge', step)

    def noop(self) -> PlaybookRun:
        def step():
            self.converge()
            names = self.names('idem', 'helm4')
            result = self.run('noop', 'site.yml', names)
            self.snapshot('noop', names)
            return result
        return self.steps.once('noop', step)

    def check_diff(self) -> PlaybookRun:
        def step():
            self.noop()
            self.old_secrets = {}
            self.new_secrets = {}
            for g in GENERATIONS:
                hv = self.hosts[host('idem', g)]
                self.old_secrets[g] = {'client_auth': hv['portkey_client_auth'],
                                       'registry_password': hv['vault_portkey_registry_password']}
                hv['portkey_client_auth'] = hv['portkey_client_auth'].replace('lab-client-auth-', 'rotated-auth-key-')
                hv['vault_portkey_registry_password'] = hv['vault_portkey_registry_password'].replace(
                    'lab-registry-password-', 'rotated-registry-pw-')
                hv['portkey_environment'] = dict(hv['portkey_environment'], SERVICE_NAME=f'svc-after-{gid(g)}')
                self.new_secrets[g] = {'client_auth': hv['portkey_client_auth'],
                                       'registry_password': hv['vault_portkey_registry_password']}
            names = self.names('idem')
            result = self.run('check_diff', 'site.yml', names, '--check', '--diff')
            self.snapshot('check_diff', names)
            return result
        return self.steps.once('check_diff', step)

    def tpl_never(self) -> PlaybookRun:
        def step():
            self.converge()
            self.hosts[host('tpl', '1.0')]['portkey_chart_git_ref'] = 'v1.0.8-tpl'
            deployment = self.chart17 / 'templates' / 'gateway' / 'deployment.yaml'
            text = deployment.read_text()
            assert TPL_ANCHOR in text, 'the 1.7 chart has no labels block to hook the template-only change into'
            deployment.write_text(text.replace(TPL_ANCHOR, TPL_ANCHOR + TPL_EXTRA, 1))
            for g in GENERATIONS:
                hv = self.hosts[host('neverready', g)]
                hv['portkey_image'] = dict(hv['portkey_image'], tag=IMAGE_TAG[g] + '-neverready')
                hv['portkey_helm_timeout'] = '10s'
            names = self.names('tpl', 'neverready')
            result = self.run('tpl_never', 'site.yml', names)
            self.snapshot('tpl_never', names)
            return result
        return self.steps.once('tpl_never', step)

    def uninstall(self) -> tuple[PlaybookRun, PlaybookRun]:
        def step():
            self.converge()
            for needed in (self.noop, self.check_diff, self.tpl_never):   # every user of the releases first
                try:
                    needed()
                except BaseException:  # noqa: BLE001 - their own tests report it; uninstall still runs
                    pass
            names = list(self.hosts)
            first = self.run('uninstall', 'playbooks/uninstall.yml', names)
            second = self.run('uninstall_again', 'playbooks/uninstall.yml', names)
            return first, second
        return self.steps.once('uninstall', step)

    def cleanup(self) -> None:
        uninstall_releases(self.lab, self.hosts)


@pytest.fixture(scope='module')
def deploy(lab, tmp_path_factory):
    scenario = Deploy(lab, tmp_path_factory.mktemp('deploy'))
    yield scenario
    scenario.cleanup()


# ----------------------------------------------------------------------------------------------------------------
# 1. converge, then a rerun changes nothing: changed=0, no helm upgrade, no write request


@pytest.mark.parametrize('generation', GENERATIONS)
def test_site_converges_and_rerun_is_a_noop(deploy, lab, generation):
    name = host('idem', generation)
    release, namespace = deploy.rel(name)
    converge = deploy.converge()
    assert recap_of(converge, name)['failed'] == 0
    assert recap_of(converge, name)['changed'] > 0, 'the first run must install the release'
    before = deploy.snap['converge'][name]['release']
    assert before and before['status'] == 'deployed', before
    assert before['chart'] == f'gateway-{CHART_VERSION[generation]}'
    # chart 1.0.x keeps the secrets in the values: said once per cluster and run (docs/secrets.md); 1.7.x never
    assert converge.output.count(f'every Helm release record of {release};') == (generation == '1.0'), \
        'the 1.0.x secrets warning must show exactly once for this cluster (and never on 1.7.x)'

    noop = deploy.noop()
    assert noop.rc == 0, describe(noop)
    recap = recap_of(noop, name)
    assert (recap['changed'], recap['failed'], recap['rescued'], recap['ignored']) == (0, 0, 0, 0), describe(noop)
    after = deploy.snap['noop'][name]['release']
    assert after['revision'] == before['revision'], 'the rerun made a helm upgrade'
    assert after['updated'] == before['updated']
    writes = lab.writes_between(noop.started, noop.ended, deploy.namespaces(deploy.names('idem', 'helm4')))
    assert writes == [], f'the no-op rerun sent write requests: {writes}'
    # the objects the extras manage exist (so "no write" is not "nothing managed")
    assert lab.get(f'/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{release}-gateway')
    assert lab.get(f'/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies/allow-all-egress')


# ----------------------------------------------------------------------------------------------------------------
# 1b. the converge run's role results have the keys docs/dev/contracts.md "Role results" documents

# Ansible's own result keys, and the file attributes chart_source returns for its `path`
RESULT_BASE_KEYS = {'changed', 'failed', 'msg', 'warnings', 'deprecations', 'diff', 'skipped',
                    'uid', 'gid', 'owner', 'group', 'mode', 'size', 'state'}


def _documented_role_results() -> dict[str, set[str]]:
    spec = importlib.util.spec_from_file_location('test_role_results', ROOT / 'tests' / 'unit' / 'test_role_results.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.documented()


def test_role_results_match_the_contract(deploy):
    converge = deploy.converge()
    reports = re.findall(r'ROLE_RESULTS (.*?) END_ROLE_RESULTS', re.sub(r'\n\s+', ' ', converge.stdout), re.S)
    assert len(reports) == len(deploy.hosts), describe(converge)
    documented = _documented_role_results()
    seen = set()
    for report in reports:
        for name, keys in json.loads(report).items():
            seen.add(name)
            extra = set(keys) - documented[name] - RESULT_BASE_KEYS
            assert not extra, f'{name} has keys contracts.md does not document: {sorted(extra)}'
            # the keys each role sets itself are always there
            if name in ('rollout_result', 'network_policy_result'):
                assert documented[name] <= set(keys), (name, keys)
    assert {'preflight_result', 'chart_source_result', 'gateway_result', 'verify_result', 'rollout_result'} <= seen


# ----------------------------------------------------------------------------------------------------------------
# 0. --check --diff on a new cluster (no namespace yet): reports what it would create, writes nothing


def test_check_first_on_a_new_cluster_reports_changes_without_writes(deploy, lab):
    deploy.converge()   # runs check_first before it
    run = deploy.runs['check_first']
    assert run.rc == 0, describe(run)
    for name in deploy.names('idem'):
        assert recap_of(run, name)['failed'] == 0
        assert recap_of(run, name)['changed'] > 0, f'{name}: --check on a new cluster reports no change'
        assert deploy.snap['check_first'][name]['release'] is None, f'{name}: --check installed a release'
    assert 'would create PodDisruptionBudget' in run.stdout and 'would create NetworkPolicy' in run.stdout
    assert 'would install' in run.stdout, 'the summary does not say the release would be installed'
    writes = lab.writes_between(run.started, run.ended, deploy.namespaces(deploy.names('idem')))
    assert writes == [], f'--check sent write requests: {writes}'


# ----------------------------------------------------------------------------------------------------------------
# 2. --check --diff after an input change: reports it, shows the non-secret change, no secret anywhere, no write


@pytest.mark.parametrize('generation', GENERATIONS)
def test_check_diff_reports_change_without_secrets_or_writes(deploy, lab, generation):
    name = host('idem', generation)
    run = deploy.check_diff()
    assert run.rc == 0, describe(run)
    assert recap_of(run, name)['failed'] == 0
    assert recap_of(run, name)['changed'] > 0, 'the input change is not reported'
    assert f'svc-after-{gid(generation)}' in run.stdout, 'the diff does not show the environment change'
    assert 'svc-before' in run.stdout, 'the diff does not show the old environment value'
    secrets = {}
    for g in GENERATIONS:   # both hosts ran: neither host's secrets (old or new) may show
        for when, values in (('old', deploy.old_secrets[g]), ('new', deploy.new_secrets[g])):
            secrets[f'{g} {when} client_auth'] = secret_needles(values['client_auth'])
            secrets[f'{g} {when} registry_password'] = secret_needles(values['registry_password'], 'lab-user')
    assert leaked(run.output, secrets) == []
    assert '<redacted sha256:' in run.stdout, 'the diff shows no redacted secret: is the Secret diff missing?'
    if generation == '1.7':   # the owned Secret's diff says the client auth key changes, never its value
        release = deploy.rel(name)[0]
        assert f'Secret {release}-gateway-env (desired)' in run.stdout, 'no diff of the owned Secret'
        assert f'Secret {release}-gateway-env changes (keys PORTKEY_CLIENT_AUTH)' in run.stdout or \
            'PORTKEY_CLIENT_AUTH: <redacted sha256:' in run.stdout
    writes = lab.writes_between(run.started, run.ended, deploy.namespaces(deploy.names('idem')))
    assert writes == [], f'--check sent write requests: {writes}'
    assert deploy.snap['check_diff'][name]['release']['revision'] == deploy.snap['converge'][name]['release']['revision']


# ----------------------------------------------------------------------------------------------------------------
# 3. a template-only chart change at the same chart version is upgraded


@pytest.mark.parametrize('generation', GENERATIONS)
def test_template_only_chart_change_is_upgraded(deploy, lab, generation):
    name = host('tpl', generation)
    release, namespace = deploy.rel(name)
    before = deploy.snap['converge'][name]
    old_deployment = gateway_objects(before['manifest'], release)['Deployment']
    assert TPL_LABEL not in old_deployment['metadata'].get('labels', {})
    run = deploy.tpl_never()
    assert recap_of(run, name)['failed'] == 0, describe(run)
    assert recap_of(run, name)['changed'] > 0
    after = deploy.snap['tpl_never'][name]
    assert after['release']['chart'] == before['release']['chart'] == f'gateway-{CHART_VERSION[generation]}'
    assert int(after['release']['revision']) == int(before['release']['revision']) + 1
    assert after['release']['status'] == 'deployed'
    live = lab.get(api_path(gateway_objects(after['manifest'], release)['Deployment'], namespace))
    assert live['metadata']['labels'].get(TPL_LABEL) == 'true', live['metadata'].get('labels')


# ----------------------------------------------------------------------------------------------------------------
# 4. an image that never gets Ready fails the run; the previous revision stays deployed and answers


@pytest.mark.parametrize('generation', GENERATIONS)
def test_neverready_image_fails_and_previous_revision_keeps_serving(deploy, lab, generation):
    name = host('neverready', generation)
    release, namespace = deploy.rel(name)
    before = deploy.snap['converge'][name]
    old_image = deployment_image(gateway_objects(before['manifest'], release)['Deployment'])
    assert old_image.endswith(':' + IMAGE_TAG[generation])
    run = deploy.tpl_never()
    assert run.rc != 0
    assert recap_of(run, name)['failed'] == 1, describe(run)
    assert 'neverready' not in old_image
    after = deploy.snap['tpl_never'][name]
    assert after['release']['status'] == 'deployed', after['release']
    objects = gateway_objects(after['manifest'], release)
    # unchanged revision, or a rollback revision whose manifest has the old image
    if after['release']['revision'] != before['release']['revision']:
        assert int(after['release']['revision']) > int(before['release']['revision'])
    assert deployment_image(objects['Deployment']) == old_image
    live = lab.get(api_path(objects['Deployment'], namespace))
    assert live['spec']['template']['spec']['containers'][0]['image'] == old_image
    service = objects['Service']
    status, body = lab.proxy_get(namespace, service['metadata']['name'], service['spec']['ports'][0]['port'], '/')
    assert status == 200 and GATEWAY_SAYS in body, (status, body[:300])


# ----------------------------------------------------------------------------------------------------------------
# 5. uninstall removes the release and its objects; a second uninstall is ok and changes nothing


@pytest.mark.parametrize('generation', GENERATIONS)
def test_uninstall_removes_everything_and_is_idempotent(deploy, lab, generation):
    name = host('idem', generation)
    release, namespace = deploy.rel(name)
    manifest = deploy.snap['converge'][name]['manifest']
    kinds = {d['kind'] for d in manifest}
    # 1.7.x: no Secret in the release; the collection owns them (and uninstall must remove them: checked below)
    assert ({'Deployment', 'Service', 'Secret'} if generation == '1.0' else {'Deployment', 'Service'}) <= kinds, kinds
    assert generation == '1.0' or 'Secret' not in kinds, kinds
    first, second = deploy.uninstall()
    assert first.rc == 0, describe(first)
    assert recap_of(first, name)['changed'] > 0
    assert lab.release(release, namespace) is None
    leftovers = [api_path(d, namespace) for d in manifest if lab.get(api_path(d, namespace)) is not None]
    for path in (f'/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{release}-gateway',
                 f'/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies/allow-all-egress'):
        if lab.get(path) is not None:
            leftovers.append(path)
    assert leftovers == []
    secrets = (lab.get(f'/api/v1/namespaces/{namespace}/secrets') or {}).get('items', [])
    assert [s['metadata']['name'] for s in secrets] == [], 'secrets left behind (pull secret, env, helm records)'
    assert second.rc == 0, describe(second)
    assert recap_of(second, name)['changed'] == 0 and recap_of(second, name)['failed'] == 0


# ----------------------------------------------------------------------------------------------------------------
# 9. helm 4: converge, no-op rerun, uninstall (through a logging wrapper, so helm 4 provably ran)


@pytest.mark.parametrize('generation', GENERATIONS)
def test_helm4_converge_noop_uninstall(deploy, lab, generation):
    name = host('helm4', generation)
    release, namespace = deploy.rel(name)
    converge = deploy.converge()
    assert recap_of(converge, name)['failed'] == 0
    before = deploy.snap['converge'][name]['release']
    assert before and before['status'] == 'deployed'
    calls = deploy.helm4_log.read_text().splitlines()
    assert any(c.startswith('upgrade ') and f' {release} ' in f' {c} ' for c in calls), calls
    noop = deploy.noop()
    assert recap_of(noop, name)['changed'] == 0 and recap_of(noop, name)['failed'] == 0, describe(noop)
    assert deploy.snap['noop'][name]['release']['revision'] == before['revision']
    assert lab.writes_between(noop.started, noop.ended, [namespace]) == []
    first, second = deploy.uninstall()
    assert recap_of(first, name)['changed'] > 0 and recap_of(first, name)['failed'] == 0, describe(first)
    assert lab.release(release, namespace) is None
    calls = deploy.helm4_log.read_text().splitlines()
    assert any(c.startswith('uninstall ') and f' {release} ' in f' {c} ' for c in calls), calls
    assert recap_of(second, name)['changed'] == 0 and recap_of(second, name)['failed'] == 0, describe(second)


# ----------------------------------------------------------------------------------------------------------------
# 6. render.yml: values (0600, private folder, secrets redacted unless asked) and helm template manifests, no cluster


@pytest.fixture(scope='module')
def render(lab, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('render')
    hosts = {}
    for g in GENERATIONS:
        hosts[host('render', g)] = lab_vars(g, portkey_render_dir=str(tmp / 'out' / host('render', g)))
    hosts['render_secrets_10'] = lab_vars('1.0', portkey_render_dir=str(tmp / 'out' / 'render_secrets_10'),
                                          portkey_render_secrets=True)
    # no cluster at all: a kubeconfig whose server does not answer, so any attempt to reach one fails the run
    dead = tmp / 'dead-kubeconfig'
    dead.write_text(yaml.safe_dump({
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'dead',
        'clusters': [{'name': 'dead', 'cluster': {'server': 'http://127.0.0.1:9'}}],
        'contexts': [{'name': 'dead', 'context': {'cluster': 'dead', 'user': 'dead'}}],
        'users': [{'name': 'dead', 'user': {'token': 'none'}}]}))
    dead.chmod(0o600)
    for hv in hosts.values():
        hv['portkey_kubeconfig'] = str(dead)
    inventory = write_inventory(tmp / 'inventory.yml', hosts)
    env = {'KUBECONFIG': str(dead), 'K8S_AUTH_KUBECONFIG': str(dead)}
    first = run_playbook('playbooks/render.yml', inventory, env=env, timeout=120)
    second = run_playbook('playbooks/render.yml', inventory, env=env, timeout=120)
    return hosts, first, second


@pytest.mark.parametrize('generation', GENERATIONS)
def test_render_writes_values_and_manifests_without_the_cluster(render, lab, generation):
    hosts, first, second = render
    name = host('render', generation)
    hv = hosts[name]
    assert first.rc == 0, describe(first)
    out = Path(hv['portkey_render_dir'])
    values, manifests = out / 'values.yaml', out / 'manifests.yaml'
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for path in (values, manifests):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    secrets = {'client_auth': secret_needles(hv['portkey_client_auth']),
               'registry_password': secret_needles(hv['vault_portkey_registry_password'], 'lab-user')}
    doc = yaml.safe_load(values.read_text())
    env = doc['environment']
    assert env['data']['ORGANISATIONS_TO_SYNC'] == hv['portkey_organisations_to_sync']
    docs = [d for d in yaml.safe_load_all(manifests.read_text()) if isinstance(d, dict)]
    kinds = {d['kind'] for d in docs}
    if generation == '1.0':
        # 1.0.x: the secrets stay in the values (docs/secrets.md), written redacted
        assert env['data']['PORTKEY_CLIENT_AUTH'].startswith('<redacted sha256:')
        assert {'Secret', 'ServiceAccount'} <= kinds
    else:
        # 1.7.x: the values only name the Secret the collection owns; no secret in them, no placeholder either
        assert env['existingSecret'] == f"{hv['portkey_release_name']}-gateway-env" and env['create'] is False
        assert 'PORTKEY_CLIENT_AUTH' in env['secretKeys'] and 'PORTKEY_CLIENT_AUTH' not in env['data']
        assert doc['imageCredentials'] == []
        assert doc['imagePullSecrets'] == [{'name': f"{hv['portkey_release_name']}-gateway-registry"}]
        # the owned Secrets are not chart objects: the manifests hold none (site.yml creates them)
        assert 'ServiceAccount' in kinds and 'Secret' not in kinds
    objects = gateway_objects(docs, hv['portkey_release_name'])
    assert deployment_image(objects['Deployment']).endswith(':' + IMAGE_TAG[generation])
    for text in (values.read_text(), manifests.read_text(), first.output, second.output):
        assert leaked(text, secrets) == []
    assert lab.release(hv['portkey_release_name'], hv['portkey_namespace']) is None
    namespaces = [h['portkey_namespace'] for h in hosts.values()]
    touched = lab.requests_between(first.started, second.ended, namespaces)
    assert touched == [], f'render.yml talked to the cluster: {touched}'
    assert lab.get(f'/api/v1/namespaces/{hv["portkey_namespace"]}') is None
    assert recap_of(second, name)['changed'] == 0, 'a second render with the same inputs changed files'


def test_render_writes_secrets_only_when_asked(render):
    hosts, first, _second = render
    hv = hosts['render_secrets_10']
    assert recap_of(first, 'render_secrets_10')['failed'] == 0, describe(first)
    values = Path(hv['portkey_render_dir']) / 'values.yaml'
    assert stat.S_IMODE(values.stat().st_mode) == 0o600
    doc = yaml.safe_load(values.read_text())
    assert doc['environment']['data']['PORTKEY_CLIENT_AUTH'] == hv['portkey_client_auth']
    assert leaked(first.output, {'client_auth': secret_needles(hv['portkey_client_auth'])}) == []


# ----------------------------------------------------------------------------------------------------------------
# 7. every rule broken on purpose fails before any write, naming the variable (one site.yml run, one host per case)

S3_OK = {'LOG_STORE_REGION': 'us-east-1', 'LOG_STORE_GENERATIONS_BUCKET': 'logs'}
ROLE_ARN = 'arn:aws:iam::123456789012:role/portkey-gateway'
BASE_ENV = {'CACHE_STORE': 'redis', 'ANALYTICS_STORE': 'control_plane'}
# case -> (overrides, generations, the variables the failure must name)
RULES = {
    'log_mongo': ({'portkey_environment': {**BASE_ENV, 'LOG_STORE': 'mongo', 'MONGO_DATABASE': 'portkey'}}, ['1.7'],
                  ['portkey_environment.MONGO_DB_CONNECTION_URL', 'portkey_environment.MONGO_COLLECTION_NAME']),
    'log_s3': ({'portkey_environment': {**BASE_ENV, 'LOG_STORE': 's3', **S3_OK}}, ['1.0'],
               ['portkey_environment.LOG_STORE_ACCESS_KEY', 'portkey_environment.LOG_STORE_SECRET_KEY']),
    'log_wasabi': ({'portkey_environment': {**BASE_ENV, 'LOG_STORE': 'wasabi', 'LOG_STORE_ACCESS_KEY': 'AKIAWASABI'}},
                   ['1.0'], ['portkey_environment.LOG_STORE_REGION', 'portkey_environment.LOG_STORE_SECRET_KEY',
                             'portkey_environment.LOG_STORE_GENERATIONS_BUCKET']),
    'log_gcs': ({'portkey_environment': {**BASE_ENV, 'LOG_STORE': 'gcs', 'LOG_STORE_SECRET_KEY': 'gcs-secret-value',
                                         **S3_OK}}, ['1.7'], ['portkey_environment.LOG_STORE_ACCESS_KEY']),
    's3_assume_static_keys': ({'portkey_environment': {**BASE_ENV, 'LOG_STORE': 's3_assume', **S3_OK,
                                                       'LOG_STORE_ACCESS_KEY': 'AKIASTATIC',
                                                       'LOG_STORE_SECRET_KEY': 'static-secret-value'},
                               'portkey_service_account': {'role_arn': ROLE_ARN}}, ['1.7'],
                              ['portkey_environment.LOG_STORE_ACCESS_KEY', 'portkey_environment.LOG_STORE_SECRET_KEY']),
    's3_assume_no_role': ({'portkey_environment': {**BASE_ENV, 'LOG_STORE': 's3_assume', **S3_OK}}, GENERATIONS,
                          ['portkey_service_account.role_arn']),
    'cache_external_no_url': ({'portkey_environment': {**BASE_ENV, 'CACHE_STORE': 'aws-elastic-cache',
                                                       'REDIS_TLS_ENABLED': 'true'}}, ['1.0'],
                              ['portkey_environment.REDIS_URL']),
    'cache_external_no_tls': ({'portkey_environment': {**BASE_ENV, 'CACHE_STORE': 'custom',
                                                       'REDIS_URL': 'redis://cache.example.internal:6379'}},
                              ['1.7'], ['portkey_environment.REDIS_TLS_ENABLED']),
    'cache_rediss_tls_false': ({'portkey_environment': {**BASE_ENV, 'CACHE_STORE': 'aws-elastic-cache',
                                                        'REDIS_URL': 'rediss://cache.example.internal:6379',
                                                        'REDIS_TLS_ENABLED': 'false'}}, ['1.0'],
                               ['portkey_environment.REDIS_TLS_ENABLED']),
    'no_client_auth': ({'portkey_client_auth': ''}, GENERATIONS, ['portkey_client_auth']),
    'no_organisations': ({'portkey_organisations_to_sync': ''}, ['1.7'], ['portkey_organisations_to_sync']),
    'replicas_not_int': ({'portkey_replicas': 'two'}, GENERATIONS, ['portkey_replicas']),
    'environment_list': ({'portkey_environment': ['LOG_STORE=s3', 'CACHE_STORE=redis']}, ['1.0'],
                         ['portkey_environment']),
    'service_target_port': ({'portkey_service': {'type': 'ClusterIP', 'port': 8787, 'targetPort': 8787}},
                            GENERATIONS, ['portkey_service.targetPort']),
    'legacy_service_port': ({'portkey_service': {'port': 8080}}, ['1.0'], ['portkey_service.port']),
    'image_tag_latest': ({'portkey_image': {'repository': 'docker.io/portkeyai/gateway_enterprise', 'tag': 'latest'}},
                         ['1.7'], ['portkey_image.tag']),
}
RULE_CASES = [(case, g) for case, (_o, gens, _v) in RULES.items() for g in gens]


@pytest.fixture(scope='module')
def rules(lab, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('rules')
    hosts = {f'{case}_{gid(g)}': lab_vars(g, **RULES[case][0]) for case, g in RULE_CASES}
    inventory = write_inventory(tmp / 'inventory.yml', hosts)
    run = run_playbook('site.yml', inventory, env={'ANSIBLE_STDOUT_CALLBACK': 'ansible.builtin.json'}, timeout=240)
    releases = json.loads(lab.helm('list', '-A', '-a', '-o', 'json').stdout or '[]')
    return hosts, run, {(r['name'], r['namespace']) for r in releases}


@pytest.mark.parametrize('case,generation', RULE_CASES, ids=[f'{c}-{g}' for c, g in RULE_CASES])
def test_broken_rule_fails_before_any_write_naming_the_variable(rules, lab, case, generation):
    hosts, run, releases = rules
    name = f'{case}_{gid(generation)}'
    hv = hosts[name]
    stats = run.stats()
    assert name in stats, run.stderr[-2000:]
    assert stats[name]['failures'] >= 1 and stats[name]['changed'] == 0, stats[name]
    failures = run.failures()[name]
    failure = failures[0]   # the rule's; the summary play fails the host again at the end
    assert all(f['task'] == 'Fail the clusters that failed' for f in failures[1:]), failures
    text = failure['msg'] + '\n' + '\n'.join(failure['errors'])
    for variable in RULES[case][2]:
        assert variable in text, f'{variable} not named in: {text}'
    # the input model (first task of site.yml, before the chart) or preflight's values validation (with the chart)
    assert 'input model' in failure['task'] or 'Validat' in failure['task'], \
        f'failed in {failure["task"]!r}, not in the validation'
    assert (hv['portkey_release_name'], hv['portkey_namespace']) not in releases
    assert lab.get(f'/api/v1/namespaces/{hv["portkey_namespace"]}') is None
    writes = lab.writes_between(run.started, run.ended, [h['portkey_namespace'] for h in hosts.values()])
    assert writes == [], f'a broken rule still wrote to the cluster: {writes}'
    for secret in ('static-secret-value', 'gcs-secret-value', hv['portkey_client_auth'] or 'n/a-secret-value'):
        assert secret not in run.output


# ----------------------------------------------------------------------------------------------------------------
# 8. `make demo`: site.yml then verify.yml -e verify_show_summary=true against inventories/lab prints the health answer


def test_make_demo_verify_prints_the_gateway_health_answer():
    inventory = Path(__file__).resolve().parents[2] / 'inventories' / 'lab'
    site = run_playbook('site.yml', inventory, timeout=240)
    assert site.rc == 0, describe(site)
    verify = run_playbook('playbooks/verify.yml', inventory, '-e', 'verify_show_summary=true', timeout=120)
    assert verify.rc == 0, describe(verify)
    assert GATEWAY_SAYS in verify.stdout, describe(verify)
    assert 'release portkey-gateway revision' in verify.stdout
    assert recap_of(verify, 'lab')['changed'] == 0
