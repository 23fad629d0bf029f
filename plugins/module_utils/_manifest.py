# -*- coding: utf-8 -*-
# Copyright: (c) 2025, portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change without notice.
"""Rendered manifests: split a Helm manifest into documents (hooks apart), name its objects, put documents in a
canonical order and JSON form for comparison, and show them (and the owned Secrets) as redacted diff text.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError, yaml
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import redacted_view

# Kinds that have no namespace (objects parsed from a manifest get the release namespace otherwise).
CLUSTER_SCOPED_KINDS = frozenset((
    "Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "PriorityClass", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration", "APIService", "IngressClass", "RuntimeClass", "CSIDriver", "VolumeAttachment",
))

HOOK_ANNOTATION = "helm.sh/hook"


def split_manifest(text):
    """The non-empty YAML documents of a manifest, in order (comments such as ``# Source:`` are ignored)."""
    docs = []
    try:
        for doc in yaml.load_all(text or "", Loader=yaml.SafeLoader):
            if isinstance(doc, dict) and doc:
                docs.append(doc)
    except yaml.YAMLError as exc:
        raise PortkeyError("cannot parse the rendered manifest: %s" % exc)
    return docs


def is_hook(doc):
    annotations = (doc.get("metadata") or {}).get("annotations") or {}
    return HOOK_ANNOTATION in annotations


def release_docs(text):
    """Documents that belong to the release manifest: hooks and tests (stored apart by helm) are left out."""
    return [d for d in split_manifest(text) if not is_hook(d)]


def object_ref(doc, namespace):
    meta = doc.get("metadata") or {}
    kind = doc.get("kind")
    ns = meta.get("namespace")
    if not ns and kind not in CLUSTER_SCOPED_KINDS:
        ns = namespace
    return dict(api_version=doc.get("apiVersion"), kind=kind, name=meta.get("name"),
                namespace=ns if kind not in CLUSTER_SCOPED_KINDS else None)


def objects_from_manifest(text, namespace):
    """[{api_version, kind, name, namespace}] of every object in a deployed manifest, in manifest order."""
    return [object_ref(d, namespace) for d in release_docs(text)]


def _doc_key(doc):
    meta = doc.get("metadata") or {}
    return (str(doc.get("apiVersion")), str(doc.get("kind")), str(meta.get("namespace") or ""),
            str(meta.get("name")))


def normalise(obj):
    """JSON round trip: what helm stores (ints and floats compare equal, tuples become lists)."""
    return json.loads(json.dumps(obj if obj is not None else {}, sort_keys=True, default=str))


def canonical_docs(docs):
    """JSON-normalised documents sorted by (apiVersion, kind, namespace, name): order-independent comparison."""
    normal = [json.loads(json.dumps(d, sort_keys=True, default=str)) for d in docs]
    return sorted(normal, key=_doc_key)


def secret_diffs(secret_plan):
    """One diff per owned Secret created, changed or deleted: key names and <redacted sha256:...> markers only."""
    diffs = []
    for change in secret_plan["changes"]:
        name = change["desired"]["metadata"]["name"]
        before, after = redacted_view(change["current"]), redacted_view(change["desired"])
        diffs.append(dict(before_header="Secret %s (cluster)" % name, after_header="Secret %s (desired)" % name,
                          before=yaml.safe_dump(before, default_flow_style=False, sort_keys=True) if before else "",
                          after=yaml.safe_dump(after, default_flow_style=False, sort_keys=True)))
    for secret in secret_plan["stale"]:
        name = secret["metadata"]["name"]
        diffs.append(dict(before_header="Secret %s (cluster)" % name, after_header="Secret %s (deleted)" % name,
                          before=yaml.safe_dump(redacted_view(secret), default_flow_style=False, sort_keys=True),
                          after=""))
    return diffs


def docs_text(docs):
    """A stable YAML text of documents (for diffs)."""
    parts = []
    for doc in docs:
        key = _doc_key(doc)
        body = yaml.safe_dump(doc, default_flow_style=False, sort_keys=True)
        parts.append("# %s %s\n%s" % (key[1], key[3], body))
    return "---\n".join(parts)
