# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import (
    PortkeyError,
    check_private_parent,
    deep_merge,
    render_yaml,
    scalar_text,
    write_private_file,
)
from ansible_collections.portkey_ai.gateway.plugins.module_utils import _common

import os
import stat

import pytest


def test_portkey_error_lists_every_error_and_keeps_details():
    exc = PortkeyError("2 problems", errors=["a: x", "b: y"], dest="/x")
    assert exc.errors == ["a: x", "b: y"]
    assert exc.details == {"dest": "/x"}
    assert str(exc) == "2 problems\n- a: x\n- b: y"
    assert str(PortkeyError("plain")) == "plain"


def test_deep_merge_merges_dicts_and_replaces_lists():
    base_doc = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    merged = deep_merge(base_doc, {"a": {"c": [3], "e": {"f": 1}}, "d": {"x": 1}})
    assert merged == {"a": {"b": 1, "c": [3], "e": {"f": 1}}, "d": {"x": 1}}
    assert base_doc == {"a": {"b": 1, "c": [1, 2]}, "d": 1}


def test_deep_merge_like_helm_keeps_none_and_tolerates_empty_inputs():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert deep_merge(base, {"a": {"c": [3]}, "e": None}) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": None}
    assert deep_merge(None, {"a": 1}) == {"a": 1} and deep_merge({"a": 1}, None) == {"a": 1}


def test_render_yaml_is_canonical_and_keeps_strings_quoted():
    text = render_yaml({"b": {"y": "true", "x": "8787"}, "a": 1})
    assert text == "a: 1\nb:\n  x: '8787'\n  y: 'true'\n"


@pytest.mark.parametrize("value, text", [
    (True, "true"), (False, "false"), (8787, "8787"), (1.5, "1.5"), ("x", "x"), (None, None), ([1], None), ({}, None),
])
def test_scalar_text(value, text):
    assert scalar_text(value) == text


def test_check_private_parent(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert check_private_parent(str(private / "values.yaml")) == []
    assert check_private_parent(str(tmp_path / "missing" / "values.yaml")) == []
    errors = check_private_parent(str(shared / "values.yaml"), "dest")
    assert len(errors) == 1 and errors[0].startswith("dest: parent directory") and "world-writable" in errors[0]
    (private / "file").write_text("x")
    assert "is not a directory" in check_private_parent(str(private / "file" / "values.yaml"))[0]


def test_check_private_parent_refuses_a_directory_as_dest(tmp_path):
    (tmp_path / "d").mkdir()
    tmp_path.chmod(0o700)
    assert "is a directory" in check_private_parent(str(tmp_path / "d"))[0]


def test_write_private_file_creates_0700_parent_and_0600_file(tmp_path):
    dest = tmp_path / "new" / "values.yaml"
    write_private_file(str(dest), "a: 1\n")
    assert dest.read_text() == "a: 1\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert stat.S_IMODE(dest.parent.stat().st_mode) == 0o700
    assert os.listdir(str(dest.parent)) == ["values.yaml"]


def test_write_private_file_is_atomic(tmp_path, monkeypatch):
    dest = tmp_path / "values.yaml"
    dest.write_text("old\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(_common.os, "replace", broken_replace)
    with pytest.raises(PortkeyError, match="cannot write"):
        write_private_file(str(dest), "new\n")
    assert dest.read_text() == "old\n"
    assert os.listdir(str(tmp_path)) == ["values.yaml"]  # the temp file is gone
