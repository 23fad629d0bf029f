# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugin_utils/_inprocess.py: a module's main() run inside the controller's worker (the action plugins' base)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import importlib
import json
from pathlib import Path

import pytest

from ansible.module_utils import basic

try:
    from ansible.module_utils import _internal
except ImportError:  # ansible-core 2.17, 2.18
    _internal = None
_WAS_CONTROLLER = getattr(_internal, "is_controller", False)
from ansible_collections.portkey_ai.gateway.plugins.plugin_utils import _inprocess  # noqa: E402
# Importing the controller side (ActionBase) marks this Python process as the controller (ansible-core 2.19+);
# the module tests of the same pytest session run their modules as a module process would.
if _internal is not None:
    _internal.is_controller = _WAS_CONTROLLER

ROOT = Path(__file__).resolve().parents[4]


@pytest.mark.parametrize("value, enabled", [
    (None, True), ("1", True), ("true", True), ("0", False), ("False", False), (" off ", False), ("no", False),
])
def test_in_process_switch(value, enabled):
    environ = {} if value is None else {_inprocess.SWITCH: value}
    assert _inprocess.in_process_enabled(environ) is enabled


@pytest.mark.parametrize("environment, has", [
    (None, False), ([], False), ([{}], False), ([{}, {}], False), ({}, False),
    ([{"LC_ALL": "C"}], True), ({"A": "b"}, True), ("{{ env }}", True), ([{}, "{{ more }}"], True),
])
def test_has_environment(environment, has):
    assert _inprocess._has_environment(environment) is has


def test_preload_skips_missing_libraries():
    assert _inprocess.preload(("json", "no_such_library_portkey")) == ["json"]


@pytest.mark.parametrize("switch", [_inprocess.SWITCH, _inprocess.PRELOAD_SWITCH])
def test_preload_off_with_either_switch(monkeypatch, switch):
    monkeypatch.setenv(switch, "0")
    assert _inprocess.preload(("json",)) == []


def _run(args):
    stdout, rc, _profile = _inprocess.run_module_main("cache_check", args)
    assert basic._ANSIBLE_ARGS is None           # nothing of this call is left for the next one in the worker
    return rc, json.loads(stdout)


def test_run_module_main_returns_the_module_result():
    rc, result = _run({"cache_store": "redis"})
    assert rc == 0
    assert result["changed"] is False and result["cache"]["checked"] is False
    assert "in the cluster" in result["msg"]


def test_run_module_main_failure_and_argument_validation():
    rc, result = _run({"cache_store": "aws-elastic-cache"})
    assert rc == 1 and result["failed"] is True
    assert "portkey_environment.REDIS_URL" in result["msg"]
    rc, result = _run({"no_such_option": 1})
    assert rc == 1 and "no_such_option" in result["msg"]


def test_run_module_main_masks_no_log_values():
    secret = "s3cret-pass-portkey"
    rc, result = _run({"cache_store": "aws-elastic-cache", "redis_url": "redis://u:%s@127.0.0.1:1" % secret,
                       "connect_timeout": 0.5})
    assert rc == 1 and result["failed"] is True
    assert secret not in json.dumps(result)


@pytest.mark.parametrize("controller", [True, False])
def test_run_module_main_returns_warnings_in_the_result(monkeypatch, controller):
    """In a worker (the controller's process) module.warn() must still land in the result, as in a module process."""
    if _internal is not None:
        monkeypatch.setattr(_internal, "is_controller", controller)
    secret = "client-auth-secret-0042"
    stdout, rc, _profile = _inprocess.run_module_main("gateway_values", {
        "generation": "1.0", "client_auth": secret, "organisations_to_sync": "org1", "image": {"tag": "1.2.3"},
        "image_pull_secret": "regcred"})
    assert rc == 0 and secret not in stdout
    assert "in-cluster Redis" in json.dumps(json.loads(stdout)["warnings"])
    if _internal is not None:
        assert _internal.is_controller is controller      # restored


def test_run_module_main_resets_warnings_between_calls():
    _run({"cache_store": "redis"})
    from ansible.module_utils.common import warnings as module_warnings
    assert not module_warnings._global_warnings


# inputs_check is an action plugin of its own (the input model on the controller), not a module run in-process
@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "plugins" / "action").glob("*.py")
                                        if p.stem != "inputs_check"))
def test_every_action_plugin_runs_its_own_module(name):
    action = importlib.import_module("ansible_collections.portkey_ai.gateway.plugins.action.%s" % name)
    assert action.ActionModule.MODULE == name
    assert issubclass(action.ActionModule, _inprocess.InProcessModuleAction)
    assert (ROOT / "plugins" / "modules" / ("%s.py" % name)).is_file()   # the module keeps the docs
