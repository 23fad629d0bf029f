# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release change detection and pending-state handling of gateway_release (manifests: test_manifest.py)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils._release import (
    compare, last_deployed_revision, pending_message, release_info,
)

MANIFEST = """---
# Source: gateway/templates/sa.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: portkey-gateway
---
# Source: gateway/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: portkey-gateway
  namespace: portkeyai
data:
  PORTKEY_CLIENT_AUTH: c2VrcmV0LWF1dGg=
stringData:
  PLAIN: plain-secret
---
# Source: gateway/templates/ns.yaml
apiVersion: v1
kind: Namespace
metadata:
  name: extra
---
# Source: gateway/templates/tests/test.yaml
apiVersion: v1
kind: Pod
metadata:
  name: portkey-gateway-test
  annotations:
    helm.sh/hook: test
---
# Source: gateway/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: portkey-gateway
spec:
  replicas: 1
"""


def _current(status="deployed", version="1.0.8", config=None, manifest=MANIFEST):
    return dict(name="portkey-gateway", namespace="portkeyai", version=2,
                info=dict(status=status, last_deployed="t"),
                chart=dict(metadata=dict(name="gateway", version=version, appVersion="1.11.4")),
                config={"replicaCount": 1} if config is None else config, manifest=manifest)


def _desired(values=None, manifest=MANIFEST, version="1.0.8"):
    return dict(chart_name="gateway", chart_version=version, values={"replicaCount": 1} if values is None else values,
                manifest=manifest)


REORDERED = "\n---\n".join(reversed(MANIFEST.split("\n---\n")))


@pytest.mark.parametrize("current, desired, reasons", [
    (_current(), _desired(), []),
    (_current(), _desired(manifest=REORDERED), []),                         # order and # Source comments ignored
    (_current(config={"replicaCount": 1.0}), _desired(), []),                # helm stores numbers as floats
    (_current(), _desired(manifest=MANIFEST.replace("helm.sh/hook: test", "helm.sh/hook: test\n    x: y")), []),
    (_current(), _desired(values={"replicaCount": 2}), ["values differ"]),
    (_current(), _desired(manifest=MANIFEST.replace("replicas: 1", "replicas: 3")), ["rendered manifest differs"]),
    (_current(), _desired(version="1.0.9"), ["chart gateway-1.0.9 differs from the deployed gateway-1.0.8"]),
    (_current(status="failed"), _desired(), ["release status is failed, not deployed"]),
    (None, _desired(), ["release is not installed"]),
])
def test_compare(current, desired, reasons):
    assert compare(current, desired) == reasons


@pytest.mark.parametrize("history, before, expected", [
    ([dict(revision=1, status="superseded"), dict(revision=2, status="deployed"),
      dict(revision=3, status="pending-upgrade")], 3, 2),
    ([dict(revision=1, status="superseded"), dict(revision=2, status="failed"),
      dict(revision=3, status="pending-rollback")], 3, 1),
    ([dict(revision=1, status="pending-install")], 1, None),
    ([], 1, None),
])
def test_last_deployed_revision(history, before, expected):
    assert last_deployed_revision(history, before=before) == expected


def test_pending_message_names_the_option():
    msg = pending_message(_current(status="pending-upgrade"), "portkey-gateway", "portkeyai")
    assert "recover_pending: rollback" in msg and "pending-upgrade" in msg and "revision 2" in msg


def test_release_info():
    assert release_info(_current()) == dict(name="portkey-gateway", namespace="portkeyai", revision=2,
                                            status="deployed", chart="gateway", chart_version="1.0.8",
                                            app_version="1.11.4", updated="t")
    assert release_info(None, "r", "n")["status"] is None
