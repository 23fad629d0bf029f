# -*- coding: utf-8 -*-
# Copyright (c) portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change in any release.

"""Redaction, in one place: which values are secrets (environment keys, registry credentials, URL userinfo), the
``<redacted sha256:XXXXXXXX>`` marker, and the redacted forms of chart values, manifests, Secrets, YAML files and
text holding URLs with credentials (git and Helm repository URLs: ``https://user:token@host`` -> ``https://***@host``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import copy
import functools
import hashlib
import json
import re

from urllib.parse import unquote, urlsplit

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import (
    PortkeyError, render_yaml, scalar_text, yaml,
)

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


def redact_url_error(exc):
    """A PortkeyError like ``exc`` with the credentials of every URL in its message and errors replaced."""
    return PortkeyError(redact_url(exc.msg), errors=[redact_url(e) for e in exc.errors], **exc.details)


def urls_redacted(func):
    """Decorator: a PortkeyError raised by ``func`` leaves it with the credentials of its URLs replaced."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PortkeyError as exc:
            raise redact_url_error(exc)
    return wrapper


def _env_secrets(env):
    found = set()
    if not isinstance(env, dict):
        return found
    for key, value in env.items():
        text = scalar_text(value)
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
        text = scalar_text(item.get(field))
        if text:
            found.add(text)
    user, password = scalar_text(item.get("username")), scalar_text(item.get("password"))
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
    client_auth = scalar_text(inputs.get("client_auth"))
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


def decode_secret_value(value):
    """The text of a base64 value of a Secret's ``data``; a value that does not decode is returned as is."""
    text = value if isinstance(value, str) else json.dumps(value)
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return text


def redact_docs(docs, secret_values):
    """Every ``data``/``stringData`` value of kind Secret -> ``<redacted sha256:XXXXXXXX>`` (of the decoded
    value), then any known secret value anywhere via redact()."""
    out = []
    for doc in docs:
        doc = copy.deepcopy(doc)
        if doc.get("kind") == "Secret":
            if isinstance(doc.get("data"), dict):
                doc["data"] = dict((k, redaction_marker(decode_secret_value(v))) for k, v in doc["data"].items())
            if isinstance(doc.get("stringData"), dict):
                doc["stringData"] = dict((k, redaction_marker(v if isinstance(v, str) else json.dumps(v)))
                                         for k, v in doc["stringData"].items())
        out.append(doc)
    return redact(out, secret_values)


def redacted_view(secret):
    """A Secret as a diff shows it: name, type and ``<redacted sha256:XXXXXXXX>`` per key of its decoded data."""
    if secret is None:
        return {}
    data = (secret.get("data") or {}).items()
    return {"name": secret["metadata"]["name"], "type": secret.get("type", "Opaque"),
            "data": dict((k, redaction_marker(decode_secret_value(v))) for k, v in sorted(data))}


def redact_values(values, secret_values, secret_paths=()):
    """Values with every secret (by value, and by path for values of an older revision) redacted."""
    values = copy.deepcopy(values)
    for path in secret_paths or ():
        _redact_path(values, path)
    return redact(values, secret_values)


def _redact_path(doc, path):
    """Replace the string at a dotted path (``environment.data.X``, ``imageCredentials[0].password``)."""
    node = doc
    tokens = []
    for part in path.split("."):
        while "[" in part:
            head, rest = part.split("[", 1)
            if head:
                tokens.append(head)
            idx, part = rest.split("]", 1)
            tokens.append(int(idx))
        if part:
            tokens.append(part)
    for token in tokens[:-1]:
        try:
            node = node[token]
        except (KeyError, IndexError, TypeError):
            return
    last = tokens[-1] if tokens else None
    try:
        if isinstance(node[last], str):
            node[last] = redaction_marker(node[last])
    except (KeyError, IndexError, TypeError):
        return


def redacted_yaml_text(text, secrets):
    """A values file's text as redacted canonical YAML: its own secrets (e.g. a rotated key) are found by key."""
    if text is None:
        return ""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return "# the existing file is not valid YAML; its content is not shown\n"
    return render_yaml(redact(doc, set(secrets) | values_secret_values(doc)))
