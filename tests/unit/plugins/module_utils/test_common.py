# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import (
    PortkeyError,
    deep_merge,
    render_yaml,
    scalar_text,
)

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
