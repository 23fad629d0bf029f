"""Release artifacts: `ansible-galaxy collection build` gives a clean tarball, which installs into an empty folder
and whose `portkey_ai.gateway.site` playbook deploys the gateway in the lab, run from outside the checkout.
"""
from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import yaml

from conftest import ROOT, VENV_BIN, lab_vars, write_inventory
from lab import runner  # noqa: E402 (conftest puts the checkout on sys.path)

# Nothing of the lab, the venvs, the checkout's own collections link, test output or build leftovers.
FORBIDDEN_TOP = {'.venv', '.lab', '.tools', '.build', '.git', '.ci', 'lab', 'scripts', 'collections', 'dist',
                 'bench-results', 'requirements', 'rendered', '.pytest_cache'}


def _env(tmp: Path) -> dict:
    env = dict(os.environ)
    env['PATH'] = f"{VENV_BIN}:{env.get('PATH', '')}"
    # a config of its own, so the checkout's ansible.cfg (collections_path=./collections) is not used
    cfg = tmp / 'ansible.cfg'
    cfg.write_text(f'[defaults]\ncollections_path = {tmp / "collections"}\nstdout_callback = default\n'
                   '[connection]\npipelining = true\n')
    env['ANSIBLE_CONFIG'] = str(cfg)
    env.pop('ANSIBLE_COLLECTIONS_PATH', None)
    env['ANSIBLE_NOCOLOR'] = '1'
    return env


def _run(cmd: list[str], env: dict, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_build_install_and_run_site_from_the_tarball(lab, tmp_path):
    env = _env(tmp_path)
    galaxy = yaml.safe_load((ROOT / 'galaxy.yml').read_text())
    built = _run([str(VENV_BIN / 'ansible-galaxy'), 'collection', 'build', '--output-path', str(tmp_path / 'dist'),
                  str(ROOT)], env, tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    tarball = tmp_path / 'dist' / f"portkey_ai-gateway-{galaxy['version']}.tar.gz"
    assert tarball.is_file(), built.stdout

    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    tops = {n.split('/', 1)[0] for n in names}
    assert not tops & FORBIDDEN_TOP, f'the tarball holds {sorted(tops & FORBIDDEN_TOP)}'
    assert not [n for n in names if n.startswith('tests/output') or '__pycache__' in n or n.endswith('.pyc')]
    for needed in ('MANIFEST.json', 'FILES.json', 'playbooks/site.yml', 'plugins/modules/gateway_release.py',
                   'roles/gateway/meta/argument_specs.yml', 'meta/runtime.yml', 'README.md', 'LICENSE'):
        assert needed in names, f'{needed} missing from the tarball'

    installed = _run([str(VENV_BIN / 'ansible-galaxy'), 'collection', 'install', '--no-deps', '-p',
                      str(tmp_path / 'collections'), str(tarball)], env, tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    home = tmp_path / 'collections' / 'ansible_collections' / 'portkey_ai' / 'gateway'
    assert (home / 'MANIFEST.json').is_file() and not home.is_symlink()

    hostvars = lab_vars('1.7')
    inventory = write_inventory(tmp_path / 'inventory.yml', {'lab': hostvars})
    own_config = {'ANSIBLE_CONFIG': env['ANSIBLE_CONFIG']}   # not the checkout's (lab.runner's default)
    site = runner.run_playbook('portkey_ai.gateway.site', inventory, base=env, env=own_config, cwd=tmp_path)
    try:
        assert site.rc == 0, site.stdout[-4000:] + site.stderr[-2000:]
        assert 'lab: healthy, revision 1, chart 1.7.7' in site.stdout, site.stdout[-3000:]
        release = lab.release(hostvars['portkey_release_name'], hostvars['portkey_namespace'])
        assert release and release['status'] == 'deployed'
    finally:
        gone = runner.run_playbook('portkey_ai.gateway.uninstall', inventory, base=env, env=own_config, cwd=tmp_path)
    assert gone.rc == 0, gone.stdout[-3000:]
    assert lab.release(hostvars['portkey_release_name'], hostvars['portkey_namespace']) is None
