# -*- coding: utf-8 -*-
# Copyright (c) portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change in any release.

"""Shared basics: the domain error, the PyYAML import, scalar text and deep merge of plain data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import yaml
except ImportError:  # PyYAML ships with ansible-core, but a module may run on a host without it
    yaml = None
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    YAML_IMPORT_ERROR = None


def require_yaml(module):
    """Fail the module with the standard message when PyYAML is missing on the host that runs it."""
    if yaml is None:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_IMPORT_ERROR)


def exit_or_fail(module, run, adapt=None):
    """Exit the module with the result dict ``run(module)`` returns; a PortkeyError fails it with its message, its
    ``errors`` and its details (``adapt`` may rewrite the error first, e.g. to redact URLs)."""
    try:
        result = run(module)
    except PortkeyError as exc:
        exc = adapt(exc) if adapt else exc
        module.fail_json(msg=str(exc), errors=exc.errors, **exc.details)
    module.exit_json(**result)


class PortkeyError(Exception):
    """A domain error. ``errors`` lists every problem; ``details`` become extra fail_json keys."""

    def __init__(self, msg, errors=None, **details):
        self.msg = msg
        self.errors = list(errors or [])
        self.details = details
        super(PortkeyError, self).__init__(msg)

    def __str__(self):
        if not self.errors:
            return self.msg
        return "\n".join([self.msg] + ["- " + e for e in self.errors])


def scalar_text(value):
    """The string an environment/annotation value becomes: booleans lowercased, numbers in decimal;
    None for non-scalars."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def render_yaml(values):
    """Canonical YAML (sorted keys, block style): a values file's content and its checksum input."""
    return yaml.safe_dump(values, default_flow_style=False, sort_keys=True, allow_unicode=True, width=4096)


def lookup(tree, path):
    """The value at ``path`` (a sequence of keys) in nested dicts, or None when any step is missing."""
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def deep_merge(base, override):
    """A new dict: dicts merged recursively, everything else (lists too) replaced by ``override`` (Helm's merge of
    ``-f`` files). A ``base`` that is not a dict counts as empty, a None ``override`` as nothing to merge."""
    merged = copy.deepcopy(base) if isinstance(base, dict) else {}
    for key, value in (override or {}).items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
