# -*- coding: utf-8 -*-
# Copyright (c) portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change in any release.

"""Shared errors, secret detection, redaction and private file writing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import os
import re
import stat
import tempfile
import traceback

from urllib.parse import unquote, urlsplit

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


# Environment keys whose value is a secret (besides SECRET_KEY_PATTERN and URLs with credentials).
SECRET_ENV_KEYS = frozenset((
    "PORTKEY_CLIENT_AUTH",
    "LOG_STORE_ACCESS_KEY",
    "LOG_STORE_SECRET_KEY",
    "MONGO_DB_CONNECTION_URL",
    "ANALYTICS_STORE_PASSWORD",
    "REDIS_PASSWORD",
    "AZURE_STORAGE_KEY",
    "AZURE_ENTRA_CLIENT_SECRET",
    "AWS_ASSUME_ROLE_SECRET_ACCESS_KEY",
    "AWS_ASSUME_ROLE_ACCESS_KEY_ID",
    "OTEL_EXPORTER_OTLP_HEADERS",
))
SECRET_KEY_PATTERN = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|_KEY$|_KEY_ID$|^AUTH|_AUTH$")
# Fields of an imageCredentials item (values document) / portkey_image_credentials (inputs) that are secret.
SECRET_CREDENTIAL_FIELDS = ("password", "auth")

REDACTED = "<redacted sha256:%s>"


def is_secret_env_key(key):
    """True when an environment variable name holds a secret."""
    key = str(key).upper()
    return key in SECRET_ENV_KEYS or bool(SECRET_KEY_PATTERN.search(key))


def url_credentials(value):
    """Secrets embedded in a URL's userinfo (``scheme://user:pass@host``), raw and percent-decoded.

    The password is the secret; a user name alone (``https://TOKEN@host``) is treated as one too.
    """
    if not isinstance(value, str) or "://" not in value or "@" not in value:
        return set()
    try:
        parts = urlsplit(value)
    except ValueError:
        return set()
    netloc = parts.netloc
    if "@" not in netloc:
        return set()
    userinfo = netloc.rsplit("@", 1)[0]
    user, sep, password = userinfo.partition(":")
    secret = password if sep else user
    return set(s for s in (secret, unquote(secret)) if s)


URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/@\s]+)@")


def redact_url(text):
    """``text`` with the credentials of every URL in it (``scheme://user:token@host``) replaced by ``***``."""
    if not isinstance(text, str):
        return text
    return URL_USERINFO.sub(lambda m: m.group(1) + "***@", text)


def _scalar_text(value):
    """The text an environment value becomes (booleans lowercased), or None for non-scalars."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _env_secrets(env):
    found = set()
    if not isinstance(env, dict):
        return found
    for key, value in env.items():
        text = _scalar_text(value)
        if text is None:
            continue
        if is_secret_env_key(key) and text:
            found.add(text)
        found |= url_credentials(text)
    return found


def _credential_secrets(item):
    found = set()
    if not isinstance(item, dict):
        return found
    for field in SECRET_CREDENTIAL_FIELDS:
        text = _scalar_text(item.get(field))
        if text:
            found.add(text)
    user, password = _scalar_text(item.get("username")), _scalar_text(item.get("password"))
    if user and password:
        found.add(user + ":" + password)  # base64 of this is the dockerconfigjson "auth"
    return found


def values_secret_values(doc):
    """Secret strings found by key in a chart values document (environment.data, imageCredentials)."""
    found = set()
    if not isinstance(doc, dict):
        return found
    environment = doc.get("environment")
    if isinstance(environment, dict):
        found |= _env_secrets(environment.get("data"))
    credentials = doc.get("imageCredentials")
    for item in credentials if isinstance(credentials, list) else []:
        found |= _credential_secrets(item)
    return found


def secret_values_of(inputs):
    """Every secret string in gateway_values inputs, whatever their (possibly wrong) types."""
    if not isinstance(inputs, dict):
        return set()
    found = set()
    client_auth = _scalar_text(inputs.get("client_auth"))
    if client_auth:
        found.add(client_auth)
    found |= _env_secrets(inputs.get("environment"))
    found |= _credential_secrets(inputs.get("image_credentials"))
    found |= values_secret_values(inputs.get("extra_values"))
    return found


def redaction_marker(secret):
    """``<redacted sha256:XXXXXXXX>``: the first 8 hex digits (32 bits) of the secret's sha256.

    It lets a diff show that a secret changed. 32 bits of a hash cannot be inverted for a high-entropy
    secret; a short, guessable secret could be confirmed by brute force, as with any hash.
    """
    return REDACTED % hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]


def _secret_forms(secret):
    """The secret itself and its base64 forms (padded and unpadded), each mapped to its marker."""
    marker = redaction_marker(secret)
    encoded = base64.b64encode(secret.encode("utf-8")).decode("ascii")
    return dict((form, marker) for form in (secret, encoded, encoded.rstrip("=")) if form)


def _redactor(secret_values):
    forms = {}
    for secret in secret_values:
        if isinstance(secret, str) and secret:
            forms.update(_secret_forms(secret))
    if not forms:
        return None
    # One pass, longest form first: a marker is never re-scanned, a longer secret wins over its substrings.
    pattern = re.compile("|".join(re.escape(f) for f in sorted(forms, key=lambda f: (-len(f), f))))
    return lambda text: pattern.sub(lambda match: forms[match.group(0)], text)


def redact(obj, secret_values):
    """A copy of ``obj`` (dicts, lists, strings) with every secret (also inside longer strings and in
    base64) replaced by its ``<redacted sha256:XXXXXXXX>`` marker."""
    sub = _redactor(secret_values)
    if sub is None:
        return obj

    def walk(node):
        if isinstance(node, dict):
            return dict((walk(k) if isinstance(k, str) else k, walk(v)) for k, v in node.items())
        if isinstance(node, (list, tuple)):
            return [walk(v) for v in node]
        if isinstance(node, str):
            return sub(node)
        return node

    return walk(obj)


def secret_paths(obj, secret_values, prefix=""):
    """Dotted paths (``environment.data.X``, ``imageCredentials[0].password``) of strings holding a secret."""
    sub = _redactor(secret_values)
    if sub is None:
        return []
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            for key in sorted(node, key=str):
                walk(node[key], "%s.%s" % (path, key) if path else str(key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, "%s[%d]" % (path, index))
        elif isinstance(node, str) and sub(node) != node:
            found.append(path)

    walk(obj, prefix)
    return found


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
