# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The molecule scenarios keep their shape: one per role that touches a cluster or an account, each with the
check-mode pass before the first converge, verify and cleanup (docs/dev/testing.md, "Molecule scenarios")."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MOLECULE = ROOT / 'molecule'
BASE = yaml.safe_load((ROOT / '.config' / 'molecule' / 'config.yml').read_text())
ROLES_WITH_SCENARIOS = {'gateway', 'network_policy', 'lb_security_group', 'vpc_peering', 'log_store',
                        'private_link', 'mongodb_access'}


def scenarios() -> dict[str, dict]:
    return {p.parent.name: yaml.safe_load(p.read_text()) or {} for p in MOLECULE.glob('*/molecule.yml')}


def sequence(config: dict) -> list[str]:
    return (config.get('scenario') or {}).get('test_sequence') or BASE['scenario']['test_sequence']


def test_one_scenario_per_role():
    assert set(scenarios()) - {'kind'} == ROLES_WITH_SCENARIOS


def test_base_sequence_checks_before_the_first_converge_and_cleans_up():
    seq = BASE['scenario']['test_sequence']
    assert seq.index('prepare') < seq.index('side_effect') < seq.index('converge') < seq.index('idempotence') \
        < seq.index('verify') < seq.index('cleanup')
    assert seq[0] == seq[-1] == 'destroy'  # resets molecule's state: the next run prepares again
    assert BASE['provisioner']['playbooks']['side_effect'] == '../shared/check.yml'
    assert (MOLECULE / 'shared' / 'check.yml').is_file()


def test_every_scenario_with_the_check_pass_has_its_files():
    for name, config in scenarios().items():
        if 'side_effect' not in sequence(config):
            continue
        folder = MOLECULE / name
        for rel in ('converge.yml', 'verify.yml', 'cleanup.yml', 'vars.yml', 'tasks/absent.yml'):
            assert (folder / rel).is_file(), f'molecule/{name}/{rel} is missing'
        for playbook in ((config.get('provisioner') or {}).get('playbooks') or {}).values():
            assert (folder / playbook).is_file(), f'molecule/{name}: {playbook} is missing'
        # cleanup ends with the shared end: namespace removed, then tasks/absent.yml must find nothing
        assert '../shared/tasks/cleanup_end.yml' in (folder / 'cleanup.yml').read_text(), name


def test_only_mongodb_access_and_kind_skip_the_check_pass():
    skipping = {name for name, config in scenarios().items() if 'side_effect' not in sequence(config)}
    assert skipping == {'kind', 'mongodb_access'}
    assert 'No MongoDB server can run' in (MOLECULE / 'mongodb_access' / 'README.md').read_text()
