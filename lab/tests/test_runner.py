"""lab.runner's pure parts: the playbook environment, the command line, the PLAY RECAP and JSON parsing."""

from __future__ import annotations

import os

import pytest

from lab import runner

RECAP = """PLAY RECAP *********************************************************************
lab                        : ok=12   changed=3    unreachable=0    failed=1    skipped=4    rescued=0    ignored=2
localhost                  : ok=1    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
"""


def test_playbook_env_puts_the_venv_first_and_the_checkouts_config():
    env = runner.playbook_env({'EXTRA': '1', 'ANSIBLE_NOCOLOR': '0'}, base={'PATH': '/usr/bin', 'KEEP': 'x'},
                              aws_call_log='/tmp/calls.log')
    assert env['PATH'] == f'{runner.VENV_BIN}{os.pathsep}/usr/bin'
    assert env['ANSIBLE_CONFIG'] == str(runner.ROOT / 'ansible.cfg')
    assert env['KEEP'] == 'x' and env['EXTRA'] == '1'
    assert env['ANSIBLE_NOCOLOR'] == '0'   # extra wins
    assert env['PORTKEY_AWS_CALL_LOG'] == '/tmp/calls.log'
    assert env['PYTHONPATH'].split(os.pathsep)[0] == str(runner.AWS_CALL_HOOK)


def test_playbook_env_keeps_pythonpath_once_and_can_leave_the_aws_hook_out():
    hook = str(runner.AWS_CALL_HOOK)
    env = runner.playbook_env(base={'PATH': '', 'PYTHONPATH': os.pathsep.join([hook, '/x'])})
    assert env['PYTHONPATH'].split(os.pathsep) == [hook, '/x']
    bare = runner.playbook_env(base={'PATH': ''}, aws_calls=False)
    assert 'PYTHONPATH' not in bare and 'PORTKEY_AWS_CALL_LOG' not in bare


def test_playbook_argv_resolves_checkout_paths_and_keeps_collection_names(tmp_path):
    assert runner.playbook_argv('playbooks/site.yml', 'inv', '-e', 'a=b') == [
        str(runner.VENV_BIN / 'ansible-playbook'), str(runner.ROOT / 'playbooks' / 'site.yml'), '-i', 'inv', '-e', 'a=b']
    assert runner.playbook_argv('portkey_ai.gateway.site', tmp_path)[1:4] == ['portkey_ai.gateway.site', '-i',
                                                                              str(tmp_path)]


def test_parse_recap_and_the_run_counts():
    run = runner.PlaybookRun(2, 'noise\n' + RECAP, '')
    assert run.recap['lab'] == {'ok': 12, 'changed': 3, 'unreachable': 0, 'failed': 1, 'skipped': 4, 'rescued': 0,
                                'ignored': 2}
    assert run.changed() == 3 and run.failed() == 1 and run.changed('localhost') == 0
    assert runner.parse_recap('no recap here') == {}


def test_json_skips_leading_noise_and_lists_failures():
    doc = ('[WARNING]: x\n{"plays": [{"tasks": [{"task": {"name": "t"}, "hosts": {"lab": {"failed": true, '
           '"msg": "boom"}, "other": {"changed": true}}}]}], "stats": {"lab": {"failures": 1}}}')
    run = runner.PlaybookRun(2, doc, '')
    assert run.failures() == {'lab': [{'task': 't', 'msg': 'boom', 'errors': []}]}
    assert run.stats() == {'lab': {'failures': 1}}
    with pytest.raises(ValueError, match='no JSON document'):
        _ = runner.PlaybookRun(0, 'plain text', '').json
