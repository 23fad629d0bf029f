# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Change detection of gateway_release with real `helm template` runs (a process: not a unit test)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import sys

from ansible_collections.portkey_ai.gateway.plugins.module_utils._helm import Helm
from ansible_collections.portkey_ai.gateway.plugins.module_utils._release import compare

sys.path.insert(0, os.path.dirname(__file__))
from test_helm_process import run_command  # noqa: E402
from test_release import _current, _desired  # noqa: E402 (tests/unit/plugins/module_utils: tests/integration/conftest.py)

BIN = os.path.dirname(sys.executable)


def test_template_change_at_same_version_is_seen(tmp_path):
    """Real helm template of two charts with the same version but another template: compare says changed."""
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: gateway\nversion: 1.0.8\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  a: b\n")
    helm = Helm(run_command, os.path.join(BIN, "helm"))
    before = helm.template("rel", "ns", str(chart))
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  a: c\n")
    after = helm.template("rel", "ns", str(chart))
    current = _current(manifest=before, config={})
    assert compare(current, _desired(values={}, manifest=before)) == []
    assert compare(current, _desired(values={}, manifest=after)) == ["rendered manifest differs"]
