# -*- coding: utf-8 -*-
# Copyright: (c) 2025, portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change without notice.
"""The audit record of a gateway_release run (record_dir): release fields, checksums and the redacted values, written
as one private JSON file per run.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import json
import os
import re
import stat

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._manifest import normalise
from ansible_collections.portkey_ai.gateway.plugins.module_utils._private_files import (
    is_shared, make_private_dir, open_new_private,
)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import (
    redact, redact_values, values_secret_values,
)

RECORD_FIELDS = ("name", "namespace", "revision", "status", "chart", "chart_version", "app_version")
_RECORD_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def record_document(result, values, secret_values, secret_paths=(), record_name=None, state="present",
                    now=None, error=None):
    """The audit record of one run: release fields, checksums and the values with every secret redacted."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    release = result.get("release") or {}
    doc = dict((key, release.get(key)) for key in RECORD_FIELDS)
    doc.update(
        record_name=record_name or release.get("name"),
        timestamp=now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        state=state,
        changed=bool(result.get("changed")),
        failed=error is not None,
        reasons=list(result.get("reasons") or []),
        values_checksum=result.get("values_checksum"),
        env_checksum=result.get("env_checksum"),
        generation=result.get("generation"),
        values=redact_values(normalise(values or {}), set(secret_values or ()) | values_secret_values(values),
                             secret_paths),
    )
    if error is not None:
        doc["error"] = redact(error, secret_values)
    return doc


def record_file_name(record_name, now):
    """``<record name>-<UTC timestamp>.json``, the name reduced to letters, digits, '.', '_' and '-'."""
    name = _RECORD_NAME.sub("_", str(record_name)).strip("._") or "release"
    return "%s-%s.json" % (name, now.strftime("%Y%m%dT%H%M%S.%fZ"))


def write_record(record_dir, doc, now):
    """Write ``doc`` as ``record_dir/<name>-<timestamp>.json`` (0600; the folder is created 0700).

    Returns (path, warnings). An existing folder is not chmod'ed; a group/world-accessible one is warned about.
    """
    warnings = []
    record_dir = os.path.abspath(os.path.expanduser(record_dir))
    try:
        existed = os.path.isdir(record_dir)
        mode = make_private_dir(record_dir).st_mode
        if existed and is_shared(mode):
            warnings.append("record_dir %s is accessible to other users (mode %s); the records hold redacted "
                            "values only, but chmod 0700 it to keep the audit trail private"
                            % (record_dir, oct(stat.S_IMODE(mode))))
        base = record_file_name(doc.get("record_name"), now)
        for attempt in range(100):
            path = os.path.join(record_dir, base if not attempt else base[:-5] + "-%d.json" % attempt)
            try:
                handle = open_new_private(path)
                break
            except OSError:
                if not os.path.exists(path):
                    raise
        else:
            raise PortkeyError("record_dir: cannot find a free file name for %s in %s" % (base, record_dir))
        with handle:
            json.dump(doc, handle, indent=2, sort_keys=True)
            handle.write("\n")
    except (IOError, OSError) as exc:
        raise PortkeyError("record_dir: cannot write the audit record in %s: %s; set record_dir "
                           "(portkey_record_dir) to a writable folder" % (record_dir, exc.strerror or exc))
    return path, warnings
