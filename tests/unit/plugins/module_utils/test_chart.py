# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Chart.yaml validation, generation and the path source (the git source, on real git repos: tests/integration/plugins/module_utils/test_chart_git.py)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._chart import (
    default_cache_dir, generation_for, generation_of, load_chart, path_source, validate_chart_meta,
)

CHART_YAML = "apiVersion: v2\nname: gateway\nversion: %s\nappVersion: \"1.11.4\"\n"


@pytest.mark.parametrize("version, generation", [
    ("0.2.1", "1.0"), ("1.0.0", "1.0"), ("1.0.8", "1.0"), ("1.1.0", "1.7"), ("1.7.7", "1.7"),
    ("2.0.0", "1.7"), ("1.0.8-rc.1", "1.0"), ("v1.7.6", "1.7"),
])
def test_generation(version, generation):
    assert generation_for(version) == generation


@pytest.mark.parametrize("meta, fragments", [
    ({"apiVersion": "v2", "name": "gateway", "version": "1.0.8"}, []),
    ({"apiVersion": "v1", "name": "gateway", "version": "1.0.8"}, ["apiVersion must be v2"]),
    ({"apiVersion": "v2", "version": "1.0.8"}, ["name is missing"]),
    ({"apiVersion": "v2", "name": "gateway"}, ["version is missing"]),
    ({"apiVersion": "v2", "name": "gateway", "version": "latest"}, ["not a semantic version"]),
    ({"name": "", "version": ""}, ["apiVersion must be v2", "name is missing", "version is missing"]),
    ("just a string", ["not a YAML mapping"]),
])
def test_validate_chart_meta(meta, fragments):
    errors = validate_chart_meta(meta, "/x/Chart.yaml")
    assert len(errors) == len(fragments)
    for error, fragment in zip(errors, fragments):
        assert fragment in error and "/x/Chart.yaml" in error


def test_load_chart_errors_name_the_file(tmp_path):
    (tmp_path / "Chart.yaml").write_text("apiVersion: v1\nname: gateway\n")
    with pytest.raises(PortkeyError) as exc:
        load_chart(str(tmp_path))
    text = str(exc.value)
    assert str(tmp_path / "Chart.yaml") in text and "apiVersion" in text and "version is missing" in text
    with pytest.raises(PortkeyError, match="Chart.yaml does not exist"):
        (tmp_path / "empty").mkdir()
        load_chart(str(tmp_path / "empty"))


def test_path_source(tmp_path):
    (tmp_path / "Chart.yaml").write_text(CHART_YAML % "1.7.7")
    chart = path_source(str(tmp_path))
    assert chart == dict(path=str(tmp_path), chart_name="gateway", chart_version="1.7.7", app_version="1.11.4",
                         generation="1.7", commit=None, changed=False, warnings=[], source="path")


def test_default_cache_dir(monkeypatch):
    monkeypatch.setenv("PORTKEY_CACHE_DIR", "/somewhere/cache")
    assert default_cache_dir() == "/somewhere/cache"
    monkeypatch.delenv("PORTKEY_CACHE_DIR")
    monkeypatch.delenv("HOME", raising=False)
    assert default_cache_dir().endswith("portkey-ai-charts-%d" % os.getuid())


# ---------------------------------------------------------------------------------------------------------------
# cache integrity: completion marker written last, checked on reuse


@pytest.mark.parametrize("version, generation", [
    ("1.0.8", "1.0"), ("1.0.7", "1.0"), ("0.2.1", "1.0"), ("0.1.0", "1.0"), ("v1.0.3", "1.0"),
    ("1.1.0", "1.7"), ("1.7.7", "1.7"), ("1.7.6-rc.1", "1.7"), ("1.10.0", "1.7"), ("2.0.0", "1.7"),
    ("latest", None), ("", None), (None, None),
])
def test_generation_of(version, generation):
    assert generation_of(version) == generation
