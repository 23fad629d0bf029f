# -*- coding: utf-8 -*-
# Copyright: Contributors to the portkey_ai.gateway project
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run one of this collection's modules inside the controller's worker process (not a public API).

The modules of this collection run where the controller is (kubeconfig, helm, the chart cache), nearly always with
``connection: local``. Started the usual way, each task pays a new Python interpreter and imports the module's
libraries again (about 0.5-1 CPU-second per task). An action plugin built on ``InProcessModuleAction`` calls the
module's own ``main()`` in the worker instead: the same argument spec, validation, ``no_log`` masking and result
(``AnsibleModule`` reads its arguments from ``_ANSIBLE_ARGS`` and prints its result, which is parsed as the result
of a module run). ansible.netcommon runs network modules in the worker the same way.

It falls back to the normal module execution when the task does not run on the controller as the same user
(a connection other than local, become, async) or sets ``environment``, and when ``PORTKEY_IN_PROCESS`` is
``0``/``false`` in the controller's environment.

``PRELOAD``: libraries imported once in the controller's main process (the strategy loads the action class there
before forking the workers), so the workers, also those of the ``kubernetes.core.k8s`` lookups, find them imported.
This costs the main process about 20 MiB; ``PORTKEY_PRELOAD=0`` keeps the in-process runs without it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import importlib
import inspect
import io
import json
import os

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as module_warnings
from ansible.plugins.action import ActionBase

COLLECTION = "portkey_ai.gateway"
LOCAL_CONNECTIONS = ("local", "ansible.builtin.local")
PRELOAD = ("yaml", "kubernetes.client", "kubernetes.config", "kubernetes.dynamic")
SWITCH = "PORTKEY_IN_PROCESS"
PRELOAD_SWITCH = "PORTKEY_PRELOAD"


def preload(names=PRELOAD):
    """Import the given libraries when they are installed (best effort: a missing one is the module's business).
    Nothing when PORTKEY_IN_PROCESS or PORTKEY_PRELOAD is off."""
    loaded = []
    if not (in_process_enabled() and in_process_enabled(switch=PRELOAD_SWITCH)):
        return loaded
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        loaded.append(name)
    return loaded


def in_process_enabled(environ=None, switch=SWITCH):
    """False when the switch (PORTKEY_IN_PROCESS) says 0/false/no/off in the environment."""
    value = (environ if environ is not None else os.environ).get(switch, "true")
    return value.strip().lower() not in ("0", "false", "no", "off")


def _has_environment(environment):
    """True when the task's environment (a list of dicts after templating, [{}] when none) sets something."""
    if not environment:
        return False
    if isinstance(environment, dict):
        return bool(environment)
    if isinstance(environment, (list, tuple)):
        return any(not isinstance(item, dict) or item for item in environment)
    return True


def _encode_args(args):
    """The module arguments as the bytes AnsibleModule expects in _ANSIBLE_ARGS (+ the serialization profile)."""
    payload = {"ANSIBLE_MODULE_ARGS": args}
    try:  # ansible-core 2.19 and later: profile-aware encoders
        from ansible.module_utils.common.json import Direction, get_module_encoder
    except ImportError:  # ansible-core 2.17, 2.18
        from ansible.module_utils.common.json import AnsibleJSONEncoder
        return json.dumps(payload, cls=AnsibleJSONEncoder, vault_to_text=True).encode("utf-8"), None
    profile = "legacy"
    return json.dumps(payload, cls=get_module_encoder(profile, Direction.CONTROLLER_TO_MODULE)).encode("utf-8"), profile


def _reset_module_globals():
    basic._ANSIBLE_ARGS = None
    if hasattr(basic, "_ANSIBLE_PROFILE"):
        basic._ANSIBLE_PROFILE = None
    if hasattr(basic, "_PARSED_MODULE_ARGS"):
        basic._PARSED_MODULE_ARGS = None
    for name in ("_global_warnings", "_global_deprecations"):
        store = getattr(module_warnings, name, None)
        if store is not None:
            store.clear()


@contextlib.contextmanager
def _as_target():
    """module_utils as in a module process: ansible-core 2.19+ sends module.warn() straight to the controller's
    display when it runs in the controller; here it must land in the module's result, as in a module process."""
    try:
        from ansible.module_utils import _internal
    except ImportError:  # ansible-core 2.17, 2.18
        yield
        return
    before = getattr(_internal, "is_controller", False)
    _internal.is_controller = False
    try:
        yield
    finally:
        _internal.is_controller = before


def run_module_main(module_name, args):
    """Call ansible_collections.<collection>.plugins.modules.<module_name>.main() with args; its printed result
    and exit code. A module ends with sys.exit (exit_json / fail_json), caught here."""
    data, profile = _encode_args(args)
    module = importlib.import_module("ansible_collections.%s.plugins.modules.%s" % (COLLECTION, module_name))
    out = io.StringIO()
    _reset_module_globals()
    basic._ANSIBLE_ARGS = data
    if profile is not None:
        basic._ANSIBLE_PROFILE = profile
    rc = 0
    try:
        with _as_target(), contextlib.redirect_stdout(out):
            try:
                module.main()
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        _reset_module_globals()
    return out.getvalue(), rc, profile


class InProcessModuleAction(ActionBase):
    """Base of the action plugins that run the module of the same name in the worker. Subclasses set MODULE."""

    MODULE = None
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    def _in_process_possible(self):
        connection = getattr(self._connection, "transport", None) or getattr(self._connection, "_load_name", "")
        return (in_process_enabled() and connection in LOCAL_CONNECTIONS and not self._play_context.become
                and not self._task.async_val and not _has_environment(self._task.environment))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(InProcessModuleAction, self).run(tmp, task_vars)
        del tmp
        fqcn = "%s.%s" % (COLLECTION, self.MODULE)
        if not self._in_process_possible():
            result.update(self._execute_module(module_name=fqcn, task_vars=task_vars,
                                               wrap_async=bool(self._task.async_val)))
            return result
        args = dict(self._task.args)
        self._update_module_args(fqcn, args, task_vars)
        stdout, rc, profile = run_module_main(self.MODULE, args)
        raw = dict(stdout=stdout, stdout_lines=stdout.splitlines(), stderr="", stderr_lines=[], rc=rc)
        if "profile" in inspect.signature(self._parse_returned_data).parameters:
            parsed = self._parse_returned_data(raw, profile)
        else:
            parsed = self._parse_returned_data(raw)
        if hasattr(parsed, "as_result_dict"):  # ansible-core 2.19 and later
            parsed.remove_internal_keys()
            parsed = parsed.as_result_dict(for_round_trip=True)
        else:
            from ansible.vars.clean import remove_internal_keys
            remove_internal_keys(parsed)
        result.update(parsed)
        return result
