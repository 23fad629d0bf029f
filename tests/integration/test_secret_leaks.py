"""Secrets go to the Kubernetes Secret (and, on chart 1.0.x only, helm's own release record) and nowhere else.

Every secret is a unique marker, handed to ansible-playbook through its environment (the inventory only holds
lookups, as a vault would). Two clusters get the same markers: one on chart 1.0.x (secrets in the values, so in
helm's release record) and one on chart 1.7.x (the collection's own Secrets; its release records, decoded: base64,
gzip, JSON, must hold none). site.yml runs at -vvv with --diff, then again with --check --diff after one secret
changed. The lab API server's request log (method, path, query: it records no bodies) and the chart cache are
scanned too. Then the outputs of both runs, every file under the project tree (tracked, untracked and ignored, .lab/
included; .venv and .git only when touched during the test) and the files created or modified during the test
under /tmp, $TMPDIR, ~/.ansible, ~/.cache, ~/.config and ~/.kube are scanned for each marker in clear text and in
base64 (any alignment, and base64 of base64). The count found outside must be 0; the Secret must hold them.
"""
from __future__ import annotations

import base64
import gzip
import json
import os
import tempfile
import time
import uuid
from pathlib import Path


from _corpus import secret_forms
from conftest import ROOT, lab_vars, report_line, run_playbook, write_inventory

MAX_BYTES = 32 * 1024 * 1024
MACHINERY = ('bash_jobs.',)  # the harness's own job folders under /tmp: not part of the project, left alone


def _env(name: str) -> str:
    return "{{ lookup('ansible.builtin.env', '%s') }}" % name


def _markers() -> dict[str, str]:
    tag = uuid.uuid4().hex[:12]
    return {label: f'pkleak{label.replace("_", "")}{tag}{uuid.uuid4().hex[:8]}' for label in (
        'client_auth', 'registry_password', 'log_access_key', 'log_secret_key', 'mongo_password', 'redis_password',
        'analytics_password', 'client_auth_changed')}


def _host(markers_env: dict[str, str], generation: str = '1.0') -> dict:
    host = lab_vars(generation)
    host.update({
        'portkey_client_auth': _env('PKLEAK_CLIENT_AUTH'),
        'vault_portkey_registry_password': _env('PKLEAK_REGISTRY_PASSWORD'),
        'portkey_cache_check': False,  # the marker is not the lab redis' password
        'portkey_environment': {
            'SERVICE_NAME': 'pk-leak-test',
            'LOG_STORE': 's3', 'LOG_STORE_REGION': 'us-east-1', 'LOG_STORE_GENERATIONS_BUCKET': 'pk-leak-logs',
            'LOG_STORE_ACCESS_KEY': _env('PKLEAK_LOG_ACCESS_KEY'),
            'LOG_STORE_SECRET_KEY': _env('PKLEAK_LOG_SECRET_KEY'),
            'MONGO_DB_CONNECTION_URL': 'mongodb://portkey:%s@mongo.example:27017/portkey' % _env('PKLEAK_MONGO'),
            'CACHE_STORE': 'custom', 'REDIS_TLS_ENABLED': 'true',
            'REDIS_URL': 'rediss://default:%s@cache.example:6379' % _env('PKLEAK_REDIS'),
            'ANALYTICS_STORE': 'clickhouse', 'ANALYTICS_STORE_ENDPOINT': 'https://clickhouse.example:8443',
            'ANALYTICS_STORE_USER': 'portkey', 'ANALYTICS_STORE_PASSWORD': _env('PKLEAK_ANALYTICS'),
            'ANALYTICS_LOG_TABLE': 'generations', 'ANALYTICS_FEEDBACK_TABLE': 'feedbacks',
        },
    })
    return host


def _ansible_env(markers: dict[str, str], client_auth: str) -> dict[str, str]:
    return {'PKLEAK_CLIENT_AUTH': markers[client_auth], 'PKLEAK_REGISTRY_PASSWORD': markers['registry_password'],
            'PKLEAK_LOG_ACCESS_KEY': markers['log_access_key'], 'PKLEAK_LOG_SECRET_KEY': markers['log_secret_key'],
            'PKLEAK_MONGO': markers['mongo_password'], 'PKLEAK_REDIS': markers['redis_password'],
            'PKLEAK_ANALYTICS': markers['analytics_password']}


def _is_secret_entry(line: bytes) -> bool:
    """A journal line of the emulator (lab/apiserver/store.py) that stores a Secret object."""
    try:
        entry = json.loads(line)
    except ValueError:
        return False
    if not isinstance(entry, dict):
        return False
    key = [str(part) for part in entry.get('key') or []]
    return (entry.get('obj') or {}).get('kind') == 'Secret' or 'secrets' in key[:3]


class Scanner:
    def __init__(self, markers: dict[str, str]):
        self.needles = [(label, form, needle.encode()) for label, marker in markers.items()
                        for form, needles in secret_forms(marker).items() for needle in needles]
        self.found: list[tuple[str, str, str]] = []  # (where, label, form): never the marker itself
        self.files = 0

    def text(self, where: str, data: bytes) -> None:
        for label, form, needle in self.needles:
            if needle in data:
                self.found.append((where, label, form))

    def file(self, path: Path) -> None:
        try:
            if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_BYTES:
                return
            data = path.read_bytes()
        except OSError:
            return
        self.files += 1
        if path.name == 'objects.jsonl':  # the lab API server's journal is its etcd: Secrets belong there
            data = b'\n'.join(line for line in data.splitlines() if not _is_secret_entry(line))
        self.text(str(path), data)

    def tree(self, top: Path, since: float | None, skip=()) -> None:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if not any(d.startswith(s) for s in skip)]
            for name in filenames:
                path = Path(dirpath, name)
                if since is not None:
                    try:
                        st = path.lstat()
                    except OSError:
                        continue
                    if max(st.st_mtime, st.st_ctime) < since:
                        continue
                self.file(path)


def _secrets(lab, namespace: str) -> list[dict]:
    return (lab.get(f'/api/v1/namespaces/{namespace}/secrets') or {}).get('items', [])


def _release_records(secrets: list[dict]) -> bytes:
    """Every helm release record, decoded: Secret data (base64) -> base64 -> gzip -> JSON."""
    out = []
    for item in secrets:
        if item.get('type') == 'helm.sh/release.v1':
            raw = base64.b64decode(base64.b64decode(item['data']['release']))
            out.append(gzip.decompress(raw) if raw[:2] == b'\x1f\x8b' else raw)
    return b'\n'.join(out)


def test_secrets_only_in_the_kubernetes_secret(lab, tmp_path, pytestconfig):
    markers = _markers()
    host = _host({})
    host17 = _host({}, '1.7')
    release, namespace = host['portkey_release_name'], host['portkey_namespace']
    inventory = write_inventory(tmp_path / 'hosts.yml', {'leak': host, 'leak17': host17})
    since = time.time() - 1
    try:
        deploy = run_playbook('site.yml', inventory, '-vvv', '--diff',
                              env=_ansible_env(markers, 'client_auth'), timeout=300)
        assert deploy.rc == 0 and deploy.failed('leak') == 0 and deploy.failed('leak17') == 0, deploy.output[-4000:]
        check = run_playbook('site.yml', inventory, '-vvv', '--check', '--diff',
                             env=_ansible_env(markers, 'client_auth_changed'), timeout=300)
        assert check.rc == 0 and check.failed('leak') == 0 and check.failed('leak17') == 0, check.output[-4000:]

        # Where the gateway needs them: the Secret, base64 as Kubernetes stores it (and helm's release record).
        secrets = _secrets(lab, namespace)
        stored = [s for s in secrets if s.get('type') != 'helm.sh/release.v1']
        assert any(s.get('type') == 'helm.sh/release.v1' for s in secrets), 'no helm release record found'
        env_values = {key: value for s in stored for key, value in (s.get('data') or {}).items()}
        decoded = b'\n'.join(base64.b64decode(v) for v in env_values.values())
        expected = {'PORTKEY_CLIENT_AUTH': 'client_auth', 'LOG_STORE_ACCESS_KEY': 'log_access_key',
                    'LOG_STORE_SECRET_KEY': 'log_secret_key', 'ANALYTICS_STORE_PASSWORD': 'analytics_password'}
        for key, label in expected.items():
            assert env_values.get(key) == base64.b64encode(markers[label].encode()).decode(), \
                f'{key} is not in the Secret as base64 of the {label} marker'
        in_secret = Scanner(dict(markers))
        in_secret.text('secret', decoded)
        labels_in_secret = {found[1] for found in in_secret.found}
        missing = set(markers) - {'client_auth_changed'} - labels_in_secret
        assert not missing, f'markers missing from the Kubernetes Secrets: {sorted(missing)}'
        assert 'client_auth_changed' not in labels_in_secret, '--check changed the Secret'

        # Chart 1.7.x: the collection's Secret holds them, helm's release records (decoded) none.
        secrets17 = _secrets(lab, host17['portkey_namespace'])
        owned = [s for s in secrets17 if s['metadata']['name'] == host17['portkey_release_name'] + '-gateway-env']
        assert owned, 'no owned environment Secret on the 1.7.x cluster'
        in_owned = Scanner(dict(markers))
        in_owned.text('owned secret', b'\n'.join(base64.b64decode(v) for v in owned[0]['data'].values()))
        missing17 = set(markers) - {'client_auth_changed', 'registry_password'} - {f[1] for f in in_owned.found}
        assert not missing17, f'markers missing from the 1.7.x owned Secret: {sorted(missing17)}'
        records17 = _release_records(secrets17)
        assert records17, 'no helm release record on the 1.7.x cluster'

        # Nowhere else.
        scan = Scanner(markers)
        scan.text('helm release records of the 1.7.x cluster (decoded)', records17)
        scan.text("the lab API server's request log", json.dumps(lab.requests()).encode())
        scan.tree(Path(host['portkey_cache_dir']), None)
        scan.text('output of the -vvv --diff run', deploy.output.encode())
        scan.text('output of the --check --diff run', check.output.encode())
        scan.tree(ROOT, None, skip=('.git', '.venv'))
        scan.tree(ROOT / '.venv', since)
        scan.tree(ROOT / '.git', since)
        home = Path.home()
        temp_roots = {Path('/tmp'), Path(tempfile.gettempdir()), Path(os.environ.get('TMPDIR', '/tmp')),
                      home / '.ansible', home / '.cache', home / '.config', home / '.kube'}
        for top in sorted(temp_roots):
            if top.is_dir():
                scan.tree(top, since, skip=MACHINERY)
        outside = sorted(set(scan.found))
        print(f'secret-leak runs: deploy {deploy.ended - deploy.started:.1f}s, check {check.ended - check.started:.1f}s, '
              f'scan {time.time() - check.ended:.1f}s')
        report_line(pytestconfig, f'secret-leak scan: {len(markers)} markers, {scan.files} files scanned, markers found '
                                  f'outside the Kubernetes Secret and helm\'s 1.0.x release record (1.7.x release '
                                  f'records, request log and chart cache included): {len(outside)}')
        assert not outside, 'secrets found outside the Kubernetes Secret (where, marker, form): ' + json.dumps(outside)
    finally:
        lab.helm('uninstall', release, '-n', namespace, '--wait', '--timeout', '30s')
        lab.helm('uninstall', host17['portkey_release_name'], '-n', host17['portkey_namespace'], '--wait=false')
