# -*- coding: utf-8 -*-
# Copyright: Contributors to the portkey_ai.gateway project
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""portkey_ai.gateway.inputs_check: the input model (module_utils/_inputs.py), run on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.portkey_ai.gateway.plugins.module_utils._chart import chart_defaults
from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import redact_url
from ansible_collections.portkey_ai.gateway.plugins.module_utils._inputs import check_inputs, steps


def plain(value):
    """Plain Python data (templated values are str/dict subclasses that PyYAML cannot represent)."""
    return json.loads(json.dumps(value, default=str))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("variables", "only", "chart", "facts"))

    def _inventory_inputs(self, task_vars):
        """Every portkey_* variable of the host, templated; one that cannot be evaluated is an error of its own."""
        variables, errors = {}, []
        for name in sorted(task_vars):
            if not name.startswith("portkey_"):
                continue
            try:
                variables[name] = self._templar.template(task_vars[name])
            except AnsibleError as exc:
                first = to_text(exc.message if hasattr(exc, "message") else exc).splitlines()[0]
                errors.append("%s: cannot be evaluated (%s); fix the expression in the inventory"
                              % (name, redact_url(first)))
        return variables, errors

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self._task.args
        errors = []
        variables = args.get("variables")
        if variables is None:
            variables, errors = self._inventory_inputs(task_vars or {})
        elif not isinstance(variables, dict):
            return dict(result, failed=True, msg="inputs_check: variables must be a dict of portkey_* variables")
        chart = args.get("chart") or None
        if isinstance(chart, dict) and chart.get("path"):
            chart = dict(chart, defaults=chart_defaults(chart["path"]))
        only = args.get("only")  # None: every section; []: none (only the steps are reported)
        if isinstance(only, str):
            only = [only]
        try:
            report = check_inputs(plain(variables), chart=plain(chart) if isinstance(chart, dict) else None,
                                  facts=plain(args.get("facts") or {}), only=only)
        except PortkeyError as exc:
            return dict(result, failed=True, msg=str(exc))
        errors = errors + report.errors
        result.update(changed=False, errors=errors, checked="all" if only is None else sorted(only),
                      steps=steps(plain(variables)))
        if report.warnings:
            result["warnings"] = report.warnings
        if errors:
            failure = PortkeyError("%d problem(s) in the portkey_* inventory variables; nothing was changed"
                                   % len(errors), errors=errors)
            result.update(failed=True, msg=str(failure))
        else:
            result["msg"] = "the portkey_* inputs are valid"
        return result
