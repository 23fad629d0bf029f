# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one module_defaults block (playbooks/vars/module_defaults.yml, templated values under static group keys)
reaches kubernetes.core's k8s and helm modules, the collection's own cluster modules and amazon.aws's modules, on
the newest (the venv's) and the oldest supported ansible-core (.tools/core-oldest). No lab needed: each module fails
on purpose, naming the kubeconfig / context / region it was given.
"""
from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / '.venv' / 'bin'
OLDEST_CORE_BIN = ROOT / '.tools' / 'core-oldest' / 'bin'
CORES = [VENV_BIN] + ([OLDEST_CORE_BIN] if (OLDEST_CORE_BIN / 'ansible-playbook').exists() else [])


def _play_header():
    """vars_files and module_defaults exactly as site.yml's deploy play has them (the vars file made absolute)."""
    play = next(p for p in yaml.safe_load((ROOT / 'playbooks' / 'site.yml').read_text()) if 'module_defaults' in p)
    return {'vars_files': [str(ROOT / 'playbooks' / f) for f in play['vars_files']],
            'module_defaults': play['module_defaults']}


def _run(core_bin, tmp_path, extra):
    tasks = [
        {'name': 'k8s', 'kubernetes.core.k8s_info': {'kind': 'Pod'}},
        {'name': 'helm', 'kubernetes.core.helm_info': {'name': 'x', 'release_namespace': 'y'}},
        {'name': 'gateway_info', 'portkey_ai.gateway.gateway_info': {'release_name': 'x', 'namespace': 'y', 'timeout': 1}},
        {'name': 'aws', 'amazon.aws.aws_caller_info': None},
    ]
    for task in tasks:
        task['ignore_errors'] = True
    play = dict(hosts='localhost', connection='local', gather_facts=False, tasks=tasks, **_play_header())
    (tmp_path / 'play.yml').write_text(yaml.safe_dump([play]))
    env = dict(os.environ)
    for var in ('AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL', 'AWS_URL', 'K8S_AUTH_KUBECONFIG',
                'K8S_AUTH_CONTEXT', 'AWS_REGION', 'AWS_DEFAULT_REGION'):
        env.pop(var, None)
    env.update(ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'), ANSIBLE_NOCOLOR='1', ANSIBLE_DEPRECATION_WARNINGS='0',
               # kubernetes.core and amazon.aws come with the venv; the oldest core has only ansible-core
               ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([str(ROOT / 'collections')] + [
                   str(p.parent) for p in (ROOT / '.venv' / 'lib').glob('python*/site-packages/ansible_collections')]),
               PORTKEY_IN_PROCESS='0', AWS_ACCESS_KEY_ID='AKIAFAKEFAKEFAKE', AWS_SECRET_ACCESS_KEY='fake-secret-key-0',
               AWS_EC2_METADATA_DISABLED='true', AWS_MAX_ATTEMPTS='1', AWS_STS_REGIONAL_ENDPOINTS='regional')
    argv = [str(core_bin / 'ansible-playbook'), str(tmp_path / 'play.yml'), '-i', 'localhost,',
            '-e', f'ansible_python_interpreter={VENV_BIN / "python"}']
    for key, value in extra.items():
        argv += ['-e', f'{key}={value}']
    run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    return run.stdout + run.stderr


@pytest.mark.parametrize('core_bin', CORES, ids=[c.parent.name for c in CORES])
def test_module_defaults_reach_every_group(core_bin, tmp_path):
    kubeconfig = f'/nonexistent/kubeconfig-{uuid.uuid4().hex[:8]}'
    out = _run(core_bin, tmp_path, {'portkey_kubeconfig': kubeconfig, 'portkey_kube_context': 'ctx-md',
                                    'portkey_aws_region': 'eu-west-3'})
    assert 'ignored=4' in out, out[-3000:]
    # k8s_info and helm_info (kubernetes.core's action plugins check the file) and gateway_info name the kubeconfig
    assert out.count(kubeconfig) >= 3, out[-3000:]
    assert 'context ctx-md' in out, out[-3000:]
    # the STS endpoint of the region given
    assert 'sts.eu-west-3.amazonaws.com' in out, out[-3000:]


@pytest.mark.parametrize('core_bin', CORES, ids=[c.parent.name for c in CORES])
def test_unset_settings_are_omitted(core_bin, tmp_path):
    out = _run(core_bin, tmp_path, {'portkey_aws_region': 'ap-south-2'})
    assert 'omit_place_holder' not in out, out[-3000:]
    assert 'sts.ap-south-2.amazonaws.com' in out and '/nonexistent/' not in out, out[-3000:]
