# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rendered manifests: objects, canonical order, hooks, redacted documents."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import sys

from ansible_collections.portkey_ai.gateway.plugins.module_utils._manifest import (
    canonical_docs, docs_text, objects_from_manifest, release_docs, split_manifest,
)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import redact_docs, redaction_marker

sys.path.insert(0, os.path.dirname(__file__))
from test_release import MANIFEST  # noqa: E402


def test_objects_from_manifest():
    assert objects_from_manifest(MANIFEST, "portkeyai") == [
        dict(api_version="v1", kind="ServiceAccount", name="portkey-gateway", namespace="portkeyai"),
        dict(api_version="v1", kind="Secret", name="portkey-gateway", namespace="portkeyai"),
        dict(api_version="v1", kind="Namespace", name="extra", namespace=None),
        dict(api_version="apps/v1", kind="Deployment", name="portkey-gateway", namespace="portkeyai"),
    ]
    assert objects_from_manifest("", "ns") == [] and objects_from_manifest(None, "ns") == []


def test_redact_docs():
    docs = redact_docs(release_docs(MANIFEST), {"sekret-auth"})
    secret = [d for d in docs if d["kind"] == "Secret"][0]
    assert secret["data"] == {"PORTKEY_CLIENT_AUTH": redaction_marker("sekret-auth")}
    assert secret["stringData"] == {"PLAIN": redaction_marker("plain-secret")}
    assert "sekret" not in repr(docs) and "plain-secret" not in repr(docs)


def test_hooks_are_not_release_objects_and_order_does_not_matter():
    docs = split_manifest(MANIFEST)
    assert len(release_docs(MANIFEST)) < len(docs)  # the test hook is left out
    reordered = "\n---\n".join(reversed(MANIFEST.split("\n---\n")))
    assert canonical_docs(release_docs(reordered)) == canonical_docs(release_docs(MANIFEST))
    text = docs_text(canonical_docs(release_docs(MANIFEST)))
    assert "# Deployment portkey-gateway" in text and text.count("---\n") == len(release_docs(MANIFEST)) - 1
