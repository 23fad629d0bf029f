# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/dev/contracts.md "Role results" against the roles: one output per role, `<role>_result`, with the keys
documented there.

- every role publishes `<role>_result` and nothing else (any other register / set_fact name is `__<role>_*`);
- a result built by set_fact from a literal dict has exactly the documented keys;
- a result filtered from a module's result (`selectattr('key', 'in', [...])`) keeps exactly the documented keys;
- a registered module result documents only keys the module returns (its RETURN doc), plus `changed`, `warnings`
  and keys the role adds with combine().
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / 'roles').iterdir() if (p / 'tasks').is_dir())
CONTRACTS = ROOT / 'docs' / 'dev' / 'contracts.md'
COMMON_KEYS = {'changed', 'warnings'}


def documented():
    """{result name: {key}} from the Role results table."""
    text = CONTRACTS.read_text()
    section = text.split('## Role results', 1)[1].split('\n## ', 1)[0]
    out = {}
    for line in section.splitlines():
        m = re.match(r'\|\s*`([a-z_]+_result)`\s*\|\s*`([a-z_]+)`\s*\|', line)
        if m:
            out.setdefault(m.group(1), set()).add(m.group(2))
    return out


def _tasks(node):
    """Every task dict of a tasks file, blocks flattened."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ('block', 'rescue', 'always'):
            if key in node:
                yield from _tasks(node[key])


def role_tasks(role):
    for path in sorted((ROOT / 'roles' / role / 'tasks').glob('*.yml')):
        yield from _tasks(yaml.safe_load(path.read_text()) or [])


def module_return_keys(module):
    tree = ast.parse((ROOT / 'plugins' / 'modules' / f'{module}.py').read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == 'RETURN':
            return set(yaml.safe_load(node.value.value) or {})
    raise AssertionError(f'{module}: no RETURN')


def published(role):
    """(registered module names, literal key sets, filtered key lists, combined keys) of `<role>_result`."""
    name = f'{role}_result'
    modules, literal, filtered, combined = set(), [], [], set()
    registers = {t['register']: {k.rsplit('.', 1)[-1] for k in t if k.startswith('portkey_ai.gateway.')}
                 for t in role_tasks(role) if t.get('register')}
    for task in role_tasks(role):
        if task.get('register') == name:
            modules.update(k.rsplit('.', 1)[-1] for k in task if k.startswith('portkey_ai.gateway.'))
        value = (task.get('ansible.builtin.set_fact') or {}).get(name)
        if isinstance(value, dict):
            literal.append(set(value))
        elif isinstance(value, str):
            keys = re.search(r"selectattr\('key', 'in', \[([^\]]*)\]", value)
            if keys:
                filtered.append(set(re.findall(r"'([a-z_]+)'", keys.group(1))))
            combined.update(re.findall(r"combine\(\{'([a-z_]+)'", value))
            # a module result registered internally and published whole: `{{ __<role>_x | combine(...) }}`
            base = re.match(r"\s*\{\{\s*([a-z_]+)\s*\|\s*combine", value)
            if base:
                modules.update(registers.get(base.group(1), set()))
    return modules, literal, filtered, combined


def test_table_parses():
    docs = documented()
    assert docs['rollout_result'] == {'status', 'task', 'msg'}
    assert len(docs) == len(ROLES)


@pytest.mark.parametrize('role', ROLES)
def test_one_output_per_role(role):
    names = set()
    for task in role_tasks(role):
        if task.get('register'):
            names.add(task['register'])
        names.update((task.get('ansible.builtin.set_fact') or {}).keys())
    others = sorted(n for n in names - {f'{role}_result', 'cacheable'} if not n.startswith(f'__{role}_'))
    assert not others, f'roles/{role} publishes {others}: only {role}_result is an output, the rest is __{role}_*'
    assert f'{role}_result' in names, f'roles/{role} never publishes {role}_result'


@pytest.mark.parametrize('role', ROLES)
def test_result_keys_match_the_contract(role):
    docs = documented()
    name = f'{role}_result'
    assert name in docs, f'docs/dev/contracts.md "Role results" lacks {name}'
    keys = docs[name]
    modules, literal, filtered, combined = published(role)
    assert modules or literal or filtered, f'{name}: neither registered from a module nor set from a dict'
    for found in literal + filtered:
        assert found == keys, f'{name}: the role sets {sorted(found)}, contracts.md documents {sorted(keys)}'
    if modules:
        allowed = set().union(*(module_return_keys(m) for m in modules)) | COMMON_KEYS | combined
        assert keys <= allowed, f'{name}: documented {sorted(keys - allowed)} that {sorted(modules)} never return'
