# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_defaults are defined once (playbooks/vars/module_defaults.yml) and every playbook uses that one block.

tests/integration/test_module_defaults.py checks that the values reach the modules on both supported ansible-cores.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / 'playbooks'
VARS_FILE = 'vars/module_defaults.yml'
CANON = {
    'group/portkey_ai.gateway.cluster': '{{ portkey_module_defaults.cluster }}',
    'group/amazon.aws.aws': '{{ portkey_module_defaults.aws }}',
}
# plays that run no cluster or AWS module: the AWX API (awx_configure), set_fact / debug / set_stats only
NO_MODULES = {'awx_configure.yml', 'survey_answers.yml', 'summary.yml'}
PLAYBOOK_FILES = sorted(p for p in PLAYBOOKS.glob('*.yml'))


def _plays(path):
    return [p for p in yaml.safe_load(path.read_text()) or [] if isinstance(p, dict) and 'hosts' in p]


def _module_defaults_anywhere(node, where, found):
    if isinstance(node, dict):
        if 'module_defaults' in node:
            found.append(where)
        for key, value in node.items():
            _module_defaults_anywhere(value, f'{where}.{key}', found)
    elif isinstance(node, list):
        for n, value in enumerate(node):
            _module_defaults_anywhere(value, f'{where}[{n}]', found)
    return found


def test_the_one_definition():
    data = yaml.safe_load((PLAYBOOKS / VARS_FILE).read_text())
    assert set(data) == {'portkey_module_defaults'}
    defaults = data['portkey_module_defaults']
    assert defaults['cluster'] == {'kubeconfig': '{{ portkey_kubeconfig | default(omit) }}',
                                   'context': '{{ portkey_kube_context | default(omit) }}'}
    assert defaults['aws'] == {'region': '{{ portkey_aws_region | default(omit) }}'}


def test_cluster_group_extends_kubernetes_core():
    runtime = yaml.safe_load((ROOT / 'meta' / 'runtime.yml').read_text())
    group = runtime['action_groups']['cluster']
    meta = [g['metadata'] for g in group if isinstance(g, dict)]
    assert meta and set(meta[0]['extend_group']) == {'kubernetes.core.k8s', 'kubernetes.core.helm'}
    assert {'gateway_release', 'gateway_info'} <= {g for g in group if isinstance(g, str)}


@pytest.mark.parametrize('path', PLAYBOOK_FILES, ids=[p.name for p in PLAYBOOK_FILES])
def test_every_playbook_uses_the_one_block(path):
    plays = _plays(path)
    if path.name in NO_MODULES or not plays:
        assert all('module_defaults' not in play for play in plays), f'{path.name}: module_defaults of its own'
        return
    for play in plays:
        assert VARS_FILE in (play.get('vars_files') or []), f"{path.name} '{play.get('name')}': vars_files lacks {VARS_FILE}"
        assert play.get('module_defaults') == CANON, f"{path.name} '{play.get('name')}': module_defaults differ"


def test_no_other_module_defaults():
    """Only the plays of playbooks/ set module_defaults; no task, block or role does."""
    found = []
    for path in sorted(PLAYBOOKS.glob('*.yml')):
        for n, play in enumerate(yaml.safe_load(path.read_text()) or []):
            if isinstance(play, dict):
                _module_defaults_anywhere({k: v for k, v in play.items() if k != 'module_defaults'},
                                          f'{path.name}[{n}]', found)
    for path in sorted((ROOT / 'roles').glob('*/tasks/*.yml')):
        _module_defaults_anywhere(yaml.safe_load(path.read_text()), str(path.relative_to(ROOT)), found)
    assert not found, found


def _sets_module_defaults(path):
    data = yaml.safe_load(path.read_text())
    return isinstance(data, list) and any(isinstance(play, dict) and 'module_defaults' in play for play in data)


MOLECULE_PLAYS = sorted(p for p in (ROOT / 'molecule').glob('*/*.yml') if _sets_module_defaults(p))


def test_molecule_plays_use_the_one_block():
    """The molecule scenarios' plays that set module_defaults set the same block from the same file."""
    assert len(MOLECULE_PLAYS) >= 7, MOLECULE_PLAYS
    for path in MOLECULE_PLAYS:
        for play in yaml.safe_load(path.read_text()):
            if isinstance(play, dict) and 'module_defaults' in play:
                where = f"{path.relative_to(ROOT)} '{play.get('name')}'"
                assert f'../../playbooks/{VARS_FILE}' in (play.get('vars_files') or []), where
                assert play['module_defaults'] == CANON, where
