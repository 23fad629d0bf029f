# -*- coding: utf-8 -*-
# Copyright (c) portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change in any release.

"""Secrets out of Helm's release record (chart 1.7.x ``environment.existingSecret`` + ``secretKeys``).

Modes (``portkey_secrets.mode``):
  - ``owned`` (1.7.x default): the collection creates and owns a Secret with the secret environment keys and a
    registry pull Secret; the chart values only name them;
  - ``existing``: a Secret the user created (``name``, ``keys``);
  - ``external``: an External Secrets Operator ``ExternalSecret`` (created by the gateway role) fills the Secret;
  - ``values``: every secret in the chart values (the only mode chart 1.0.x has).

Pure helpers: the split of the environment, the Secret objects and their checksum.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import (
    decode_secret_value,
    is_secret_env_key,
    url_credentials,
)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._objects import MANAGED_BY, MANAGED_BY_LABEL

MODES = ("owned", "existing", "external", "values")
REFERENCE_MODES = ("owned", "existing", "external")
SECRET_CHECKSUM_ANNOTATION = "portkey.ai/secret-checksum"
RELEASE_LABEL = "portkey.ai/release"
LEGACY_WARNING = ("chart 1.0.x cannot reference an existing Secret: the secrets (client auth key, store keys, registry "
                  "password) stay in the chart values and so in every Helm release record of %s; upgrade to chart "
                  "1.7.x to keep them in a Secret the collection owns (docs/secrets.md)")


def env_secret_keys(env):
    """The environment keys whose value is a secret: by name, or a URL carrying credentials."""
    return sorted(key for key, value in env.items()
                  if (is_secret_env_key(key) and value != "") or url_credentials(value))


def data_checksum(data):
    """sha256 over the sorted (key, value) pairs of a Secret's data: the pod annotation, never the content."""
    canonical = json.dumps(sorted((str(k), str(v)) for k, v in (data or {}).items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def default_names(fullname):
    return {"name": fullname[:57].rstrip("-") + "-env", "pull_secret_name": fullname[:52].rstrip("-") + "-registry"}


def dockerconfigjson(item):
    """The chart's imageCredentials rule: ``auths.<registry>`` with the auth token only, or user/password/email/auth."""
    if item.get("auth"):
        entry = {"auth": item["auth"]}
    else:
        token = base64.b64encode(("%s:%s" % (item["username"], item["password"])).encode("utf-8")).decode("ascii")
        entry = {"username": item["username"], "password": item["password"], "email": item.get("email", ""),
                 "auth": token}
    return json.dumps({"auths": {item["registry"]: entry}}, sort_keys=True, separators=(",", ":"))


def _labels(release):
    return {MANAGED_BY_LABEL: MANAGED_BY, RELEASE_LABEL: release}


def secret_object(name, namespace, release, string_data, secret_type="Opaque"):
    """A Secret (``data`` base64) owned by the collection for ``release``."""
    data = dict((k, base64.b64encode(v.encode("utf-8")).decode("ascii")) for k, v in sorted(string_data.items()))
    return {"apiVersion": "v1", "kind": "Secret", "type": secret_type,
            "metadata": {"name": name, "namespace": namespace, "labels": _labels(release)}, "data": data}


def owned_secrets(plan, namespace, release):
    """The Secret objects the collection owns for a plan (empty unless mode owned)."""
    if plan.get("mode") != "owned":
        return []
    objects = [secret_object(plan["name"], namespace, release, plan["data"])]
    pull = plan.get("pull_secret")
    if pull:
        objects.append(secret_object(pull["name"], namespace, release, {".dockerconfigjson": pull["config"]},
                                     "kubernetes.io/dockerconfigjson"))
    return objects


def decoded_data(secret):
    """{key: text} of a Secret read from the API (base64 ``data``); undecodable values are kept as is."""
    return dict((key, decode_secret_value(value)) for key, value in ((secret or {}).get("data") or {}).items())


def secret_changes(current, desired):
    """Keys added, changed or removed between two Secrets (type and labels count as a change of the object)."""
    before, after = decoded_data(current), decoded_data(desired)
    keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    meta_changed = current is not None and (
        current.get("type", "Opaque") != desired.get("type", "Opaque")
        or any(((current.get("metadata") or {}).get("labels") or {}).get(k) != v
               for k, v in desired["metadata"]["labels"].items()))
    return keys, meta_changed


class KubeSecrets(object):
    """The Secret reads and writes of gateway_release (kubernetes client; JSON dicts in and out)."""

    def __init__(self, auth):
        try:
            import kubernetes
        except ImportError:
            raise PortkeyError("the kubernetes Python library is required (pip install 'kubernetes<37')")
        self._k = kubernetes
        self.api = kubernetes.client.CoreV1Api(auth.api_client())

    def _call(self, what, fn, *args, **kwargs):
        try:
            resp = fn(*args, _preload_content=False, **kwargs)
        except self._k.client.exceptions.ApiException as exc:
            if exc.status == 404 and what.startswith(("read", "delete")):
                return None
            raise PortkeyError("cannot %s: %s %s" % (what, exc.status, exc.reason))
        except Exception as exc:  # urllib3 connection errors and the like
            raise PortkeyError("cannot %s: %s" % (what, exc))
        data = resp.data.decode("utf-8") if resp.data else ""
        return json.loads(data) if data else {}

    def get(self, name, namespace):
        return self._call("read Secret %s/%s" % (namespace, name), self.api.read_namespaced_secret, name, namespace)

    def owned(self, namespace, release):
        found = self._call("list the Secrets of release %s in %s" % (release, namespace),
                           self.api.list_namespaced_secret, namespace,
                           label_selector="%s=%s,%s=%s" % (MANAGED_BY_LABEL, MANAGED_BY, RELEASE_LABEL, release))
        return (found or {}).get("items") or []

    def ensure_namespace(self, namespace):
        if self._call("read namespace %s" % namespace, self.api.read_namespace, namespace) is None:
            self._call("create namespace %s" % namespace, self.api.create_namespace,
                       {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})

    def put(self, current, desired):
        meta = desired["metadata"]
        if current is None:
            return self._call("create Secret %s/%s" % (meta["namespace"], meta["name"]),
                              self.api.create_namespaced_secret, meta["namespace"], desired)
        body = dict(desired, metadata=dict(meta, resourceVersion=current["metadata"].get("resourceVersion")))
        return self._call("replace Secret %s/%s" % (meta["namespace"], meta["name"]),
                          self.api.replace_namespaced_secret, meta["name"], meta["namespace"], body)

    def delete(self, name, namespace):
        return self._call("delete Secret %s/%s" % (namespace, name), self.api.delete_namespaced_secret, name,
                          namespace)
