# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gateway_release's audit records (record_dir): content, redaction, file and folder modes, never a change."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import json
import os
import stat

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import redaction_marker
from ansible_collections.portkey_ai.gateway.plugins.module_utils._release import (
    ReleaseManager, ReleaseRequest, record_document, record_file_name, write_record,
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


class FakeHelm(object):
    """helm release/history/rollback on canned releases (revision -> release JSON)."""

    def __init__(self, releases):
        self.releases = releases
        self.calls = []

    def release(self, name, namespace, revision=None):
        self.calls.append(("release", revision))
        if not self.releases:
            return None
        return self.releases[revision or max(self.releases)]

    def rollback(self, name, namespace, revision=None, **kwargs):
        self.calls.append(("rollback", revision))
        current = dict(self.releases[revision], version=max(self.releases) + 1)
        self.releases[current["version"]] = current


def _release(revision, secret, tag):
    return dict(name="pk", namespace="ns", version=revision, info=dict(status="deployed"),
                chart=dict(metadata=dict(name="gateway", version="1.0.8", appVersion="1.11.4")),
                config=dict(_values(secret), images={"gatewayImage": {"tag": tag}}),
                manifest="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pk}\ndata: {tag: '%s'}\n" % tag)


def _records(folder):
    return sorted(os.listdir(str(folder))) if folder.exists() else []


def test_rollback_writes_a_record_and_the_record_is_not_a_change(tmp_path):
    folder = tmp_path / "rec"
    helm = FakeHelm({1: _release(1, OLD_SECRET, "1.0"), 2: _release(2, SECRET, "2.0")})
    req = ReleaseRequest("pk", "ns", state="rollback", record_dir=str(folder), record_name="prod-eu")
    result = ReleaseManager(helm, req).run()
    assert result["changed"] is True and result["release"]["revision"] == 3
    assert result["record"] == str(folder / _records(folder)[0])
    doc = json.loads(open(result["record"]).read())
    assert doc["revision"] == 3 and doc["state"] == "rollback" and doc["values"]["images"]["gatewayImage"]["tag"] == "1.0"
    assert OLD_SECRET not in json.dumps(doc) and SECRET not in json.dumps(doc)
    # rollback to the same content: not changed, although a record is written
    helm = FakeHelm({1: _release(1, OLD_SECRET, "1.0"), 2: _release(2, OLD_SECRET, "1.0")})
    req = ReleaseRequest("pk", "ns", state="rollback", record_dir=str(folder), record_name="prod-eu")
    result = ReleaseManager(helm, req).run()
    assert result["changed"] is False and result["record"] and len(_records(folder)) == 2


def test_no_record_in_check_mode_or_without_record_dir(tmp_path):
    folder = tmp_path / "rec"
    for req in (ReleaseRequest("pk", "ns", state="rollback", record_dir=str(folder), check_mode=True),
                ReleaseRequest("pk", "ns", state="rollback")):
        helm = FakeHelm({1: _release(1, OLD_SECRET, "1.0"), 2: _release(2, SECRET, "2.0")})
        assert ReleaseManager(helm, req).run()["record"] is None
    assert _records(folder) == []


def test_a_failed_run_writes_a_failure_record(tmp_path):
    folder = tmp_path / "rec"
    req = ReleaseRequest("pk", "ns", state="rollback", record_dir=str(folder))
    with pytest.raises(PortkeyError) as err:
        ReleaseManager(FakeHelm({}), req).run()
    doc = json.loads(open(err.value.details["record"]).read())
    assert doc["failed"] is True and "nothing to roll back" in doc["error"] and doc["record_name"] == "pk"
