# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/variables.md is generated from the roles' argument specs (scripts/gen_variables_doc.py) and never drifts."""

import importlib.util
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location('gen_variables_doc', ROOT / 'scripts' / 'gen_variables_doc.py')
gen = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(gen)


def test_variables_doc_matches_the_argument_specs():
    assert gen.main(['--check']) == 0, 'docs/variables.md drifted: run .venv/bin/python scripts/gen_variables_doc.py'


def test_every_option_and_its_inventory_variable_is_listed():
    doc = (ROOT / 'docs' / 'variables.md').read_text()
    listed = set(re.findall(r'^\| `([a-z0-9_.]+)` \|', doc, re.M))
    for path in ROOT.glob('roles/*/meta/argument_specs.yml'):
        for entry in yaml.safe_load(path.read_text())['argument_specs'].values():
            assert set(entry.get('options') or {}) <= listed, path
    defaults = yaml.safe_load((ROOT / 'roles' / 'preflight' / 'defaults' / 'main.yml').read_text())
    assert 'portkey_kubeconfig' in defaults['preflight_kubeconfig']
    assert '| `preflight_kubeconfig` | `portkey_kubeconfig` |' in doc


def test_a_changed_spec_is_detected(tmp_path, monkeypatch):
    role = tmp_path / 'roles' / 'demo'
    (role / 'meta').mkdir(parents=True)
    (role / 'defaults').mkdir()
    (role / 'defaults' / 'main.yml').write_text('demo_size: "{{ portkey_size | default(1) }}"\n')
    spec = {'argument_specs': {'main': {'short_description': 'Demo.', 'options': {
        'demo_size': {'type': 'int', 'default': 1, 'description': 'Size. Defaults to C(portkey_size).'}}}}}
    (role / 'meta' / 'argument_specs.yml').write_text(yaml.safe_dump(spec))
    monkeypatch.setattr(gen, 'ROOT', tmp_path)
    monkeypatch.setattr(gen, 'DOC', tmp_path / 'variables.md')
    assert gen.main([]) == 0 and gen.main(['--check']) == 0
    assert '| `demo_size` | `portkey_size` | int | `1` |  | Size. Defaults to `portkey_size`. |' in gen.DOC.read_text()
    spec['argument_specs']['main']['options']['demo_size']['default'] = 2
    (role / 'meta' / 'argument_specs.yml').write_text(yaml.safe_dump(spec))
    assert gen.main(['--check']) == 1
