# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gateway_release writes an audit record (record_dir) on rollback and failure, never in check mode; never a change."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import sys

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._release import ReleaseManager, ReleaseRequest

sys.path.insert(0, os.path.dirname(__file__))
from test_audit_record import SECRET, OLD_SECRET, _values  # noqa: E402


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
