# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""helm argv building (table-driven, helm 3 and helm 4), output parsing and version detection (real binaries)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import sys

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._helm import (
    RELEASE_BOUNDARY, RELEASE_TEMPLATE, get_all_argv, get_values_argv, history_argv, parse_release_text,
    parse_version, pull_argv, resolve_binary, rollback_argv, template_argv, uninstall_argv, upgrade_argv,
)

BIN = os.path.dirname(sys.executable)
KC = ["--kubeconfig", "/k", "--kube-context", "lab"]


@pytest.mark.parametrize("major, kwargs, expected", [
    (3, {}, ["helm", "upgrade", "rel", "/c", "--install", "--namespace", "ns", "--values", "/v.json",
             "--reset-values", "--history-max", "10", "--timeout", "5m", "--atomic", "--wait",
             "--create-namespace", "--output", "json"]),
    (4, {}, ["helm", "upgrade", "rel", "/c", "--install", "--namespace", "ns", "--values", "/v.json",
             "--reset-values", "--history-max", "10", "--timeout", "5m", "--rollback-on-failure", "--wait=watcher",
             "--create-namespace", "--output", "json"]),
    (4, dict(wait_strategy="legacy"), ["helm", "upgrade", "rel", "/c", "--install", "--namespace", "ns", "--values",
                                       "/v.json", "--reset-values", "--history-max", "10", "--timeout", "5m",
                                       "--rollback-on-failure", "--wait=legacy", "--create-namespace", "--output",
                                       "json"]),
    (3, dict(atomic=False, wait=False, create_namespace=False, history_max=0, timeout="90s", skip_crds=True),
     ["helm", "upgrade", "rel", "/c", "--install", "--namespace", "ns", "--values", "/v.json", "--reset-values",
      "--history-max", "0", "--timeout", "90s", "--skip-crds", "--output", "json"]),
    (4, dict(atomic=False, wait=False, create_namespace=False),
     ["helm", "upgrade", "rel", "/c", "--install", "--namespace", "ns", "--values", "/v.json", "--reset-values",
      "--history-max", "10", "--timeout", "5m", "--output", "json"]),
    (3, dict(atomic=False, wait=True, kubeconfig="/k", context="lab"),
     ["helm", "upgrade", "rel", "/c", "--install", "--namespace", "ns", "--values", "/v.json", "--reset-values",
      "--history-max", "10", "--timeout", "5m", "--wait", "--create-namespace", "--output", "json"] + KC),
])
def test_upgrade_argv(major, kwargs, expected):
    assert upgrade_argv("helm", major, "rel", "ns", "/c", ["/v.json"], **kwargs) == expected


@pytest.mark.parametrize("major, wait, expected_tail", [
    (3, True, ["--wait"]),
    (3, False, []),
    (4, True, ["--wait=watcher"]),
    (4, False, []),
])
def test_uninstall_argv(major, wait, expected_tail):
    assert uninstall_argv("helm", major, "rel", "ns", wait=wait, timeout="2m") == \
        ["helm", "uninstall", "rel", "--namespace", "ns", "--timeout", "2m"] + expected_tail


@pytest.mark.parametrize("major, revision, expected", [
    (3, None, ["helm", "rollback", "rel", "--namespace", "ns", "--history-max", "10", "--timeout", "5m", "--wait"]),
    (3, 2, ["helm", "rollback", "rel", "2", "--namespace", "ns", "--history-max", "10", "--timeout", "5m",
            "--wait"]),
    (4, 2, ["helm", "rollback", "rel", "2", "--namespace", "ns", "--history-max", "10", "--timeout", "5m",
            "--wait=watcher"]),
])
def test_rollback_argv(major, revision, expected):
    assert rollback_argv("helm", major, "rel", "ns", revision=revision) == expected


def test_read_argvs():
    assert get_all_argv("helm", "rel", "ns", kubeconfig="/k", context="lab") == \
        ["helm", "get", "all", "rel", "--namespace", "ns", "--template", RELEASE_TEMPLATE] + KC
    assert get_all_argv("helm", "rel", "ns", revision=3)[-2:] == ["--revision", "3"]
    assert get_values_argv("helm", "rel", "ns") == ["helm", "get", "values", "rel", "--namespace", "ns",
                                                    "--output", "json"]
    assert history_argv("helm", "rel", "ns") == ["helm", "history", "rel", "--namespace", "ns", "--output", "json",
                                                 "--max", "256"]
    assert template_argv("helm", "rel", "ns", "/c", ["/a", "/b"], is_upgrade=True) == \
        ["helm", "template", "rel", "/c", "--namespace", "ns", "--values", "/a", "--values", "/b", "--is-upgrade"]
    assert pull_argv("helm", "https://r", "gateway", "1.7.7", "/d") == \
        ["helm", "pull", "gateway", "--repo", "https://r", "--untar", "--untardir", "/d", "--version", "1.7.7"]


@pytest.mark.parametrize("text, version", [
    ("v3.19.0", (3, 19, 0)), ("v4.1.4+g1234", (4, 1, 4)), ("3.8.2", (3, 8, 2)),
])
def test_parse_version(text, version):
    assert parse_version(text) == version


def test_parse_version_error():
    with pytest.raises(PortkeyError):
        parse_version("garbage")


def test_parse_release_text():
    text = "\n".join(["rel", "ns", "3", "pending-upgrade", "2026-01-01T00:00:00Z", "gateway", "1.0.8", "1.11.4",
                      RELEASE_BOUNDARY, "---\nkind: ConfigMap\n"])
    rel = parse_release_text(text, {"a": 1})
    assert rel == dict(name="rel", namespace="ns", version=3,
                       info=dict(status="pending-upgrade", last_deployed="2026-01-01T00:00:00Z"),
                       chart=dict(metadata=dict(name="gateway", version="1.0.8", appVersion="1.11.4")),
                       config={"a": 1}, manifest="---\nkind: ConfigMap\n")
    with pytest.raises(PortkeyError, match="unexpected output"):
        parse_release_text("no boundary here")


def test_resolve_binary(tmp_path):
    assert resolve_binary("helm4").endswith("helm4")
    with pytest.raises(PortkeyError, match="helm_binary"):
        resolve_binary("no-such-helm-binary")
    with pytest.raises(PortkeyError, match="helm_binary"):
        resolve_binary(str(tmp_path / "helm"))


# ---------------------------------------------------------------------------------------------------------------
# helm's error, not its noise; interrupts forwarded to helm

NOISY_STDERR = "\n".join(
    ["I1201 04:05:06.789012   12345 reflector.go:123] watch of *v1.Pod ended with: an error on the server",
     "W1201 04:05:07.000001   12345 warnings.go:70] unknown field \"spec.foo\"",
     "E1201 04:05:08.123456   12345 request.go:1196] Unexpected error when reading response body: EOF"] * 40
    + ["Error: UPGRADE FAILED: context deadline exceeded", ""])


def test_error_text_keeps_helms_error_and_drops_client_log_lines():
    from ansible_collections.portkey_ai.gateway.plugins.module_utils._helm import error_text
    assert error_text(NOISY_STDERR) == "Error: UPGRADE FAILED: context deadline exceeded"
    assert error_text("Release x has been cancelled.\nError: UPGRADE FAILED: x") == (
        "Error: UPGRADE FAILED: x\nRelease x has been cancelled.")
    only_noise = "I1201 04:05:06.789012   12345 reflector.go:123] one\nE1201 04:05:06.789012   1 a.go:1] last"
    assert error_text(only_noise).endswith("last") and error_text("") == ""
