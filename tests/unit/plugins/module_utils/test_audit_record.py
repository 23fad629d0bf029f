# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit record (record_dir): content, redaction, file name, file and folder modes."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import json
import os
import stat

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import redaction_marker
from ansible_collections.portkey_ai.gateway.plugins.module_utils._audit_record import (
    record_document, record_file_name, write_record,
)

NOW = datetime.datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=datetime.timezone.utc)
SECRET = "client-auth-secret-0123456789"
OLD_SECRET = "old-client-auth-secret-99999"


def _result(**over):
    result = dict(changed=False, reasons=[], values_checksum="abc", env_checksum="def", generation="1.0",
                  release=dict(name="pk", namespace="ns", revision=3, status="deployed", chart="gateway",
                               chart_version="1.0.8", app_version="1.11.4", updated="t"))
    result.update(over)
    return result


def _values(secret=SECRET):
    return {"replicaCount": 2, "environment": {"data": {"PORTKEY_CLIENT_AUTH": secret, "CACHE_STORE": "redis"}},
            "imageCredentials": [{"name": "creds", "username": "u", "password": "registry-pw-123456"}]}


def test_record_document_fields_and_redaction():
    doc = record_document(_result(), _values(), {SECRET}, record_name="prod-eu", now=NOW)
    for key, expected in (("name", "pk"), ("namespace", "ns"), ("revision", 3), ("status", "deployed"),
                          ("chart", "gateway"), ("chart_version", "1.0.8"), ("app_version", "1.11.4"),
                          ("values_checksum", "abc"), ("env_checksum", "def"), ("record_name", "prod-eu"),
                          ("timestamp", "2025-03-04T05:06:07.890123Z"), ("failed", False), ("changed", False)):
        assert doc[key] == expected, key
    text = json.dumps(doc)
    # secrets known to the run and secrets found by key in the values (the registry password) are both redacted
    assert SECRET not in text and "registry-pw-123456" not in text
    assert doc["values"]["environment"]["data"]["PORTKEY_CLIENT_AUTH"] == redaction_marker(SECRET)
    assert doc["values"]["environment"]["data"]["CACHE_STORE"] == "redis" and doc["values"]["replicaCount"] == 2


def test_record_document_failure_redacts_the_error():
    doc = record_document(_result(), {}, {SECRET}, now=NOW, error="helm said %s" % SECRET)
    assert doc["failed"] is True and SECRET not in doc["error"] and doc["record_name"] == "pk"


@pytest.mark.parametrize("name, expected", [
    ("prod-eu-west-1", "prod-eu-west-1-20250304T050607.890123Z.json"),
    ("host/with spaces", "host_with_spaces-20250304T050607.890123Z.json"),
    ("../..", "release-20250304T050607.890123Z.json"),
])
def test_record_file_name(name, expected):
    assert record_file_name(name, NOW) == expected


def test_write_record_modes_and_no_overwrite(tmp_path):
    folder = tmp_path / "records" / "nested"
    doc = record_document(_result(), _values(), {SECRET}, record_name="lab", now=NOW)
    path, warnings = write_record(str(folder), doc, NOW)
    assert warnings == [] and os.path.dirname(path) == str(folder)
    assert stat.S_IMODE(os.stat(str(folder)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(open(path).read())["revision"] == 3
    # same name and timestamp again: a new file, the first one is kept
    second, _warnings = write_record(str(folder), doc, NOW)
    assert second != path and second.endswith("-1.json") and os.path.isfile(path)


def test_write_record_warns_about_an_open_folder(tmp_path):
    folder = tmp_path / "open"
    folder.mkdir()
    os.chmod(str(folder), 0o755)
    _path, warnings = write_record(str(folder), {"record_name": "x"}, NOW)
    assert len(warnings) == 1 and "chmod 0700" in warnings[0]
    assert stat.S_IMODE(os.stat(str(folder)).st_mode) == 0o755  # a user's folder is never chmod'ed


def test_write_record_unwritable_folder_names_the_variable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PortkeyError) as err:
        write_record(str(blocker / "sub"), {"record_name": "x"}, NOW)
    assert "portkey_record_dir" in str(err.value)
