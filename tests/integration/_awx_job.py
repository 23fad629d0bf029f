"""Run a job template of awx/assets.yml the way AWX runs a job: ansible-runner over a private data directory.

What AWX does (awx/main/tasks/jobs.py RunJob, awx/main/models/credential CredentialType.inject_credential), and what
this module does the same way, minus the container (the venv stands in for the execution environment):
- a private data directory (0700) with `project/` (a clean copy of the repository: the files git tracks or would
  track, symlinks kept), `inventory/hosts` (an executable script printing the synced inventory as JSON; the sync is
  `ansible-inventory --list --export` of the inventory source's path, as AWX's inventory update imports it) and
  `env/`;
- `env/extravars`: the job template's extra vars, the survey answers (AWX sends every question: an optional answer
  left blank is "" or null, or missing with `blank=None`), the launch extra vars and AWX's meta vars; every string
  that is not one of the job template's own extra vars is tagged `!unsafe`, as AWX's safe_dump does;
- credentials rendered from their credential type's injectors with Jinja's immutable sandbox: `file` templates to
  0600 temporary files in env/ (`tower.filename.<name>`), `env` into the job environment, `extra_vars` to a 0400
  YAML file in env/ passed as `-e @file`; AWX's built-in types used here (Amazon Web Services, OpenShift or
  Kubernetes API Bearer Token) inject what AWX's injectors.py writes;
- `env/cmdline` (--check, --diff, -u root, --limit, -e @credential files) and `env/envvars`: the site's task
  environment (AWX_TASK_ENV) plus JOB_ID, AWX_PRIVATE_DATA_DIR, ANSIBLE_RETRY_FILES_ENABLED and the roles and
  collections paths built as AWX builds them: the job-local requirements dir, then the project's ansible.cfg
  setting, then the execution environment's paths (ANSIBLE_COLLECTIONS_PATHS in AWX before ansible-core 2.19's
  removal of that name, ANSIBLE_COLLECTIONS_PATH since);
- `ansible-runner run <dir> -p <playbook>`; the result is runner's status and rc, the job's stdout and events
  (set_stats artifacts are what AWX shows on the job).
"""
from __future__ import annotations

import configparser
import json
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / '.venv' / 'bin'
ASSETS = yaml.safe_load((ROOT / 'awx' / 'assets.yml').read_text())
EE_COLLECTION_PATHS = '~/.ansible/collections:/usr/share/ansible/collections'
EE_ROLE_PATHS = '~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles'


class _Unsafe(str):
    pass


class _SafeDumper(yaml.SafeDumper):
    pass


_SafeDumper.add_representer(_Unsafe, lambda dumper, data: dumper.represent_scalar('!unsafe', str(data)))


def _mark_unsafe(value, safe):
    """AWX's safe_dump: strings are `!unsafe` unless the key/value pair is one of the job template's extra vars."""
    if isinstance(value, dict):
        return {k: (v if k in safe and safe[k] == v else _mark_unsafe(v, {})) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark_unsafe(v, {}) for v in value]
    return _Unsafe(value) if isinstance(value, str) else value


def _write(path: Path, text: str, mode: int) -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'w') as handle:
        handle.write(text)
    os.chmod(path, mode)
    return path


def _mkstemp(env_dir: Path, text: str, mode: int) -> Path:
    handle, name = tempfile.mkstemp(dir=env_dir)
    with os.fdopen(handle, 'w') as out:
        out.write(text)
    os.chmod(name, mode)
    return Path(name)


def job_template(name: str) -> dict:
    (jt,) = [j for j in ASSETS['job_templates'] if j['name'] == name]
    return jt


def credential_type(name: str) -> dict:
    (ctype,) = [c for c in ASSETS['credential_types'] if c['name'] == name]
    return ctype


def copy_project(dest: Path) -> Path:
    """A clean checkout of the working tree: what git tracks or would track (no .venv, .lab, outputs)."""
    files = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard', '-z'], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split('\0')
    for rel in filter(None, files):
        src = ROOT / rel
        if not os.path.lexists(src):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), target)
        else:
            shutil.copy2(src, target)
    return dest


def sync_inventory(project: Path, source_path: str, task_env: dict | None = None) -> dict:
    """AWX's inventory update of an SCM source: `ansible-inventory --list --export` run in the project."""
    env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}", **(task_env or {}))
    env.pop('ANSIBLE_CONFIG', None)
    proc = subprocess.run([str(VENV_BIN / 'ansible-inventory'), '-i', source_path, '--list', '--export'],
                          cwd=project, env=env, capture_output=True, text=True, check=True, timeout=120)
    return json.loads(proc.stdout)


def slice_inventory(data: dict, number: int, count: int) -> dict:
    """AWX's job slicing: slice N of M runs the hosts [N-1::M] of the inventory (sorted by name)."""
    hosts = sorted(data.get('_meta', {}).get('hostvars', {}))
    keep = set(hosts[number - 1::count])
    out = {'_meta': {'hostvars': {h: v for h, v in data['_meta']['hostvars'].items() if h in keep}}}
    for group, body in data.items():
        if group != '_meta':
            out[group] = dict(body, hosts=[h for h in body.get('hosts', []) if h in keep]) if 'hosts' in body else body
    return out


def inject_credential(ctype: dict, inputs: dict, env: dict, args: list, env_dir: Path) -> None:
    """CredentialType.inject_credential for a custom credential type."""
    sandbox = ImmutableSandboxedEnvironment()
    namespace = {k: v for k, v in inputs.items() if isinstance(v, bool) or len(v)}
    for field in ctype['inputs']['fields']:
        if field['type'] == 'boolean' and field['id'] not in inputs:
            namespace[field['id']] = False
    tower = type('TowerNamespace', (), {})()
    namespace['tower'] = tower
    injectors = ctype.get('injectors', {})
    for label, template in injectors.get('file', {}).items():
        path = _mkstemp(env_dir, sandbox.from_string(template).render(**namespace), stat.S_IRUSR | stat.S_IWUSR)
        if '.' not in label:
            tower.filename = str(path)
        else:
            if not hasattr(tower, 'filename'):
                tower.filename = type('TowerNamespace', (), {})()
            setattr(tower.filename, label.split('.', 1)[1], str(path))
    for name, template in injectors.get('env', {}).items():
        env[name] = sandbox.from_string(template).render(**namespace)
    extra_vars = {k: sandbox.from_string(v).render(**namespace) for k, v in injectors.get('extra_vars', {}).items()}
    if extra_vars:
        path = _mkstemp(env_dir, yaml.dump(_mark_unsafe(extra_vars, {}), Dumper=_SafeDumper), stat.S_IRUSR)
        args.extend(['-e', f'@{path}'])


def inject_builtin(kind: str, inputs: dict, env: dict, env_dir: Path) -> None:
    """AWX's injectors.py for the built-in credential types the docs recommend."""
    if kind == 'aws':
        env['AWS_ACCESS_KEY_ID'] = inputs['username']
        env['AWS_SECRET_ACCESS_KEY'] = inputs['password']
        if inputs.get('security_token'):
            env['AWS_SECURITY_TOKEN'] = env['AWS_SESSION_TOKEN'] = inputs['security_token']
    elif kind == 'kubernetes_bearer_token':
        env['K8S_AUTH_HOST'] = inputs['host']
        env['K8S_AUTH_API_KEY'] = inputs['bearer_token']
        if inputs.get('verify_ssl') and inputs.get('ssl_ca_cert'):
            env['K8S_AUTH_VERIFY_SSL'] = 'True'
            env['K8S_AUTH_SSL_CA_CERT'] = str(_mkstemp(env_dir, inputs['ssl_ca_cert'], stat.S_IRUSR | stat.S_IWUSR))
        else:
            env['K8S_AUTH_VERIFY_SSL'] = 'False'
    else:
        raise ValueError(kind)


def _path_var(project: Path, env: dict, env_key: str, setting: str, folder: Path, default: str) -> str:
    """AWX's build_env for the roles and collections paths (reads the project's ansible.cfg like AWX does)."""
    paths = default.split(':')
    cfg = configparser.ConfigParser()
    cfg.read(project / 'ansible.cfg')
    config_value = cfg.get('defaults', setting, fallback=None)
    if env_key in env:
        for path in env[env_key].split(':'):
            if path not in paths:
                paths = [env[env_key]] + paths
    elif config_value is not None:
        for path in config_value.split(':'):
            if path not in paths:
                paths = [config_value] + paths
    return os.pathsep.join([str(folder)] + paths)


@dataclass
class JobResult:
    status: str
    rc: int
    stdout: str
    events: list
    private_data_dir: Path

    @property
    def artifacts(self) -> dict:
        """set_stats data, as AWX shows it on the job (the playbook_on_stats event's artifact_data)."""
        for event in self.events:
            if event.get('event') == 'playbook_on_stats':
                return event.get('event_data', {}).get('artifact_data') or {}
        return {}

    def host_failures(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for event in self.events:
            if event.get('event') == 'runner_on_failed' and not event['event_data'].get('ignore_errors'):
                data = event['event_data']
                found.setdefault(data['host'], []).append(str(data.get('res', {}).get('msg', '')))
        return found


def run_job(base: Path, template: str, *, inventory_source: str, credentials: list[tuple[str, dict]],
            inventory_files: dict[str, str] | None = None, inventory: dict | None = None,
            survey: dict | None = None, blank=None, launch_vars: dict | None = None, job_type: str | None = None,
            limit: str = '', task_env: dict | None = None, collections_env_key: str = 'ANSIBLE_COLLECTIONS_PATH',
            job_id: int = 1, slice_of: tuple[int, int] | None = None, timeout: int = 600) -> JobResult:
    """Launch job template `template` (from awx/assets.yml) with `credentials` [(credential type name or
    'aws' / 'kubernetes_bearer_token', inputs)], survey answers (questions not answered get `blank`: "" or None,
    or are left out with blank='omit'), and launch extra vars. `inventory_files` {path: text} are added under the
    project's inventory_source directory (the site's own inventory in its fork of the project). `inventory`: the
    result of an earlier sync (AWX syncs an inventory source once, not per job), else the job syncs it."""
    jt = job_template(template)
    pdd = Path(tempfile.mkdtemp(prefix=f'awx_{job_id}_', dir=base))
    os.chmod(pdd, 0o700)
    for sub in ('inventory', 'env'):
        (pdd / sub).mkdir(mode=0o700)
    env_dir = pdd / 'env'
    project = copy_project(pdd / 'project')
    for rel, text in (inventory_files or {}).items():
        _write(project / inventory_source / rel, text, 0o644)

    # the site's task environment (AWX_TASK_ENV: endpoints, proxies), then what AWX sets for every job
    env = dict(task_env or {})
    env.update(JOB_ID=str(job_id), INVENTORY_ID='1', PROJECT_REVISION='HEAD', ANSIBLE_RETRY_FILES_ENABLED='False',
               AWX_PRIVATE_DATA_DIR=str(pdd), ANSIBLE_SSH_CONTROL_PATH_DIR=str(pdd / 'cp'),
               ANSIBLE_FORCE_COLOR='False', ANSIBLE_HOST_KEY_CHECKING='False',
               ANSIBLE_INVENTORY_UNPARSED_FAILED='True', ANSIBLE_PARAMIKO_RECORD_HOST_KEYS='False')
    (pdd / 'cp').mkdir(mode=0o700)
    env['ANSIBLE_ROLES_PATH'] = _path_var(project, env, 'ANSIBLE_ROLES_PATH', 'roles_path',
                                          pdd / 'requirements_roles', EE_ROLE_PATHS)
    setting = 'collections_paths' if collections_env_key == 'ANSIBLE_COLLECTIONS_PATHS' else 'collections_path'
    env[collections_env_key] = _path_var(project, env, collections_env_key, setting,
                                         pdd / 'requirements_collections', EE_COLLECTION_PATHS)

    # inventory: the synced inventory as AWX's job inventory script
    data = json.loads(json.dumps(inventory)) if inventory else sync_inventory(project, inventory_source, task_env)
    if slice_of:
        data = slice_inventory(data, *slice_of)
    for host, hostvars in data.get('_meta', {}).get('hostvars', {}).items():
        hostvars.setdefault('remote_tower_enabled', 'true')
        hostvars.setdefault('remote_tower_id', sorted(data['_meta']['hostvars']).index(host) + 1)
    inventory = _write(pdd / 'inventory' / 'hosts',
                       '#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n' % json.dumps(data), 0o700)

    # extra vars: job template, survey (every question), launch vars, then AWX's meta vars
    jt_vars = yaml.safe_load(jt.get('extra_vars') or '---') or {}
    extra_vars = dict(jt_vars)
    if jt.get('survey_enabled'):
        answers = survey or {}
        for question in jt['related']['survey_spec']['spec']:
            name = question['variable']
            if name in answers:
                extra_vars[name] = answers[name]
            elif blank != 'omit':
                extra_vars[name] = blank
    extra_vars.update(launch_vars or {})
    extra_vars.update({f'{prefix}_{key}': value for prefix in ('awx', 'tower') for key, value in (
        ('job_id', job_id), ('job_launch_type', 'manual'), ('user_name', 'admin'), ('project_revision', 'HEAD'),
        ('job_template_id', 1), ('job_template_name', template), ('inventory_id', 1),
        ('inventory_name', 'Portkey gateways'), ('execution_node', 'localhost'))})
    if slice_of:
        extra_vars.update(awx_job_slice_number=slice_of[0], awx_job_slice_count=slice_of[1])
    _write(env_dir / 'extravars', yaml.dump(_mark_unsafe(extra_vars, jt_vars), Dumper=_SafeDumper), 0o600)

    # command line, then the credentials' injections (env vars, files, -e @file)
    job_type = job_type or jt['job_type']
    args = (['--check'] if job_type == 'check' else []) + ['-u', 'root']
    if jt.get('diff_mode'):
        args.append('--diff')
    if limit or jt.get('limit'):
        args.extend(['-l', limit or jt['limit']])
    for kind, inputs in credentials:
        if kind in ('aws', 'kubernetes_bearer_token'):
            inject_builtin(kind, inputs, env, env_dir)
        else:
            inject_credential(credential_type(kind), inputs, env, args, env_dir)
    import ansible_runner.utils  # pylint: disable=import-outside-toplevel
    _write(env_dir / 'cmdline', ansible_runner.utils.args2cmdline(*args), 0o600)
    _write(env_dir / 'envvars', yaml.safe_dump(env), 0o600)
    _write(env_dir / 'settings', json.dumps({'job_timeout': timeout, 'suppress_ansible_output': True}), 0o600)

    # ansible-runner from the "execution environment" (the venv): helm, kubectl, ansible-playbook on PATH
    runner_env = {'PATH': f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin", 'HOME': str(pdd / 'home'),
                  'LANG': 'C.UTF-8'}
    proc = subprocess.run([str(VENV_BIN / 'ansible-runner'), 'run', str(pdd), '-p', jt['playbook'],
                           '--inventory', str(inventory), '--ident', str(job_id)],
                          env=runner_env, capture_output=True, text=True, timeout=timeout + 60, check=False)
    artifacts = pdd / 'artifacts' / str(job_id)
    status = (artifacts / 'status').read_text().strip() if (artifacts / 'status').exists() else 'error'
    rc = int((artifacts / 'rc').read_text().strip()) if (artifacts / 'rc').exists() else proc.returncode
    stdout = (artifacts / 'stdout').read_text() if (artifacts / 'stdout').exists() else proc.stdout + proc.stderr
    events = [json.loads(p.read_text()) for p in sorted((artifacts / 'job_events').glob('*.json'),
                                                        key=lambda p: int(p.name.split('-', 1)[0]))]
    return JobResult(status, rc, stdout, events, pdd)
