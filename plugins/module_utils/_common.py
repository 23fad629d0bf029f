# -*- coding: utf-8 -*-
# Copyright (c) portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change in any release.

"""Shared basics: the domain error, the PyYAML import, scalar text and deep merge of plain data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import stat
import tempfile
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


def check_private_parent(path, var="dest"):
    """Errors for a parent directory that other users could write to (a secret file must not live there)."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(parent):
        return []
    if not os.path.isdir(parent):
        return ["%s: parent %s is not a directory; choose a path in a private directory" % (var, parent)]
    mode = os.stat(parent).st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        return ["%s: parent directory %s is group/world-writable (mode %s); the values file holds secrets, "
                "so write it to a private directory (chmod 0700 %s, or another dest)"
                % (var, parent, oct(stat.S_IMODE(mode)), parent)]
    if os.path.isdir(path):
        return ["%s: %s is a directory; give a file path" % (var, path)]
    return []


def read_text(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except (IOError, OSError) as exc:
        if not os.path.exists(path):
            return None
        raise PortkeyError("cannot read %s: %s" % (path, exc))


def write_private_file(path, text):
    """Write ``text`` to ``path`` atomically with mode 0600, creating a missing parent directory 0700.

    The caller checked the parent with check_private_parent. Returns nothing; raises PortkeyError.
    """
    parent = os.path.dirname(os.path.abspath(path))
    try:
        if not os.path.exists(parent):
            os.makedirs(parent, 0o700)
            os.chmod(parent, 0o700)
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".portkey-values-", suffix=".tmp")
    except (IOError, OSError) as exc:
        raise PortkeyError("cannot create a file in %s: %s" % (parent, exc))
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (IOError, OSError) as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise PortkeyError("cannot write %s: %s" % (path, exc))
