# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gateway_release and a concurrent run: a young pending revision is waited for (bounded), an old one is stuck."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils._release import (
    ReleaseManager, ReleaseRequest, is_concurrent_operation, parse_duration, parse_helm_time, pending_age,
    pending_message,
)

NOW = datetime.datetime(2025, 6, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def _rel(status, seconds_ago, version=3):
    when = (NOW - datetime.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    return dict(name="pk", namespace="ns", version=version, info=dict(status=status, last_deployed=when),
                chart=dict(metadata=dict(name="gateway", version="1.0.8")), config={}, manifest="")


class FakeHelm(object):
    def __init__(self, releases):
        self.releases = list(releases)
        self.reads = 0
        self.calls = []

    def release(self, name, namespace, revision=None, with_values=True):
        self.reads += 1
        self.calls += [["helm", "get", "all", name], ["helm", "get", "values", name]]
        return self.releases.pop(0) if len(self.releases) > 1 else self.releases[0]


class FakeClock(object):
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds


def _manager(helm, timeout="20s"):
    mgr = ReleaseManager(helm, ReleaseRequest("pk", "ns", timeout=timeout))
    clock = FakeClock()
    mgr._clock, mgr._sleep, mgr._now = clock, clock.sleep, NOW
    return mgr, clock


@pytest.mark.parametrize("text, seconds", [("5m", 300), ("20s", 20), ("1h30m", 5400), ("90", 90), ("1m30s", 90),
                                           ("bogus", 300), ("", 300)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_parse_helm_time_and_age():
    assert parse_helm_time("2025-06-01T11:59:50.5Z") == NOW - datetime.timedelta(seconds=9.5)
    assert parse_helm_time("2025-06-01T13:59:50+02:00") == NOW - datetime.timedelta(seconds=10)
    assert parse_helm_time("t") is None and parse_helm_time(None) is None
    assert pending_age(_rel("pending-upgrade", 7), NOW) == pytest.approx(7, abs=0.2)


def test_young_pending_revision_is_waited_for_until_it_settles():
    helm = FakeHelm([_rel("pending-upgrade", 6), _rel("pending-upgrade", 8), _rel("deployed", 10)])
    mgr, clock = _manager(helm)
    result = dict(warnings=[])
    latest = mgr._wait_other_operation(_rel("pending-upgrade", 5), result)
    assert latest["info"]["status"] == "deployed" and helm.reads == 3 and clock.t == 6.0
    assert "another operation on release pk was in progress" in result["warnings"][0]
    assert "3 polls" in result["warnings"][0] and len(result["warnings"]) == 1
    # the wait is reported once: one poll's helm commands, not one per poll
    assert helm.calls == [["helm", "get", "all", "pk"], ["helm", "get", "values", "pk"]]


def test_wait_is_bounded_by_the_timeout():
    helm = FakeHelm([_rel("pending-upgrade", 5)])
    mgr, clock = _manager(helm, timeout="20s")
    result = dict(warnings=[])
    latest = mgr._wait_other_operation(_rel("pending-upgrade", 5), result)
    assert latest["info"]["status"] == "pending-upgrade" and len(helm.calls) == 2 and helm.reads >= 7
    assert "still pending" in result["warnings"][0]
    assert 15 <= clock.t <= 17 + 2  # the 15 s left of the other operation's timeout, plus one poll


def test_old_pending_revision_is_not_waited_for():
    helm = FakeHelm([_rel("deployed", 0)])
    mgr, clock = _manager(helm, timeout="20s")
    current = _rel("pending-upgrade", 25)
    assert mgr._wait_other_operation(current, dict(warnings=[])) is current and helm.reads == 0 and clock.t == 0


def test_pending_message_names_the_inventory_variable():
    msg = pending_message(_rel("pending-upgrade", 30), "pk", "ns")
    assert "recover_pending: rollback" in msg and "portkey_recover_pending=rollback" in msg


@pytest.mark.parametrize("msg, concurrent", [
    ("Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress", True),
    ("Error: UPGRADE FAILED: release: already exists", True),
    ('Error: secrets "sh.helm.release.v1.pk.v2" already exists', True),
    ("Error: UPGRADE FAILED: context deadline exceeded", False),
    ('Error: configmaps "pk-gateway" already exists', False),
])
def test_concurrent_operation_errors(msg, concurrent):
    assert is_concurrent_operation(msg) is concurrent
