# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""helm version detection, the C locale, error reporting and interruption with real binaries (helm, helm4 and
shell stand-ins): processes, so not unit tests. run_command is a real AnsibleModule.run_command stand-in."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import subprocess
import sys

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils import _helm
from ansible_collections.portkey_ai.gateway.plugins.module_utils._helm import Helm

sys.path.insert(0, os.path.dirname(__file__))
from test_helm import NOISY_STDERR  # noqa: E402 (tests/unit/plugins/module_utils: tests/integration/conftest.py)

BIN = os.path.dirname(sys.executable)


def run_command(args, check_rc=False, environ_update=None, cwd=None, encoding="utf-8"):
    """A stand-in for AnsibleModule.run_command (same signature subset and return value)."""
    env = dict(os.environ, **(environ_update or {}))
    proc = subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if encoding is None:
        return proc.returncode, proc.stdout, proc.stderr
    return proc.returncode, proc.stdout.decode(encoding, "replace"), proc.stderr.decode(encoding, "replace")


@pytest.mark.parametrize("binary, major", [("helm", 3), ("helm4", 4)])
def test_version_detection_is_cached_per_binary(binary, major):
    _helm._VERSION_CACHE.clear()
    helm = Helm(run_command, os.path.join(BIN, binary))
    assert helm.major == major
    assert helm.major == major
    assert [c[1] for c in helm.calls] == ["version"]
    other = Helm(run_command, os.path.join(BIN, binary))
    assert other.major == major and other.calls == []


def test_runner_forces_c_locale_and_reports_helm_errors(tmp_path):
    seen = []

    def recording(args, **kwargs):
        seen.append(kwargs)
        return run_command(args, **kwargs)

    helm = Helm(recording, os.path.join(BIN, "helm"))
    with pytest.raises(_helm.HelmError) as exc:
        helm.template("rel", "ns", str(tmp_path / "missing-chart"))
    assert exc.value.rc != 0 and "missing-chart" in exc.value.stderr
    assert seen[0]["environ_update"]["LC_ALL"] == "C" and seen[0]["check_rc"] is False


def test_helm_failure_message_starts_with_helms_error(tmp_path):
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\ncat >&2 <<'X'\n%s\nX\nexit 1\n" % NOISY_STDERR)
    fake.chmod(0o755)
    helm = Helm(run_command, str(fake))
    with pytest.raises(_helm.HelmError) as exc:
        helm.run([str(fake), "upgrade", "x"])
    assert str(exc.value) == "helm upgrade failed (rc=1): Error: UPGRADE FAILED: context deadline exceeded"


def test_run_interruptible_forwards_sigterm_to_helm(tmp_path):
    import signal
    import threading
    from ansible_collections.portkey_ai.gateway.plugins.module_utils._helm import HelmInterrupted, run_interruptible
    fake = tmp_path / "helm"
    marker = tmp_path / "got-term"
    fake.write_text("#!/bin/sh\ntrap 'echo cancelled > %s; echo \"Error: UPGRADE FAILED: cancelled\" >&2; exit 1' "
                    "TERM\necho started > %s.start\nwhile :; do sleep 0.1; done\n" % (marker, marker))
    fake.chmod(0o755)
    started = tmp_path / "got-term.start"

    def interrupt():
        for _attempt in range(200):
            if started.exists():
                break
            threading.Event().wait(0.05)
        os.kill(os.getpid(), signal.SIGTERM)   # what Ansible's worker gets when the playbook is stopped
    before = signal.getsignal(signal.SIGTERM)
    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(HelmInterrupted) as exc:
        run_interruptible([str(fake), "upgrade", "x"])
    assert marker.read_text().strip() == "cancelled"          # helm itself got the signal
    text = str(exc.value)
    assert "SIGTERM" in text and "helm upgrade" in text and "portkey_recover_pending" in text
    assert "Error: UPGRADE FAILED: cancelled" in text and "Traceback" not in text
    assert signal.getsignal(signal.SIGTERM) == before        # handlers restored


def test_run_interruptible_stops_helm_when_the_playbook_is_gone(tmp_path, monkeypatch):
    from ansible_collections.portkey_ai.gateway.plugins.module_utils import _helm
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\ntrap 'echo \"Error: UPGRADE FAILED: cancelled\" >&2; exit 1' TERM\n"
                    "while :; do sleep 0.1; done\n")
    fake.chmod(0o755)
    monkeypatch.setattr(_helm, "ancestors", lambda: [(os.getppid(), -1)])  # a parent whose start time changed
    with pytest.raises(_helm.HelmInterrupted, match="SIGTERM"):
        _helm.run_interruptible([str(fake), "upgrade", "x"], poll=0.1)


def test_run_interruptible_returns_like_run_command():
    from ansible_collections.portkey_ai.gateway.plugins.module_utils._helm import ancestors, run_interruptible
    assert run_interruptible(["sh", "-c", "echo out; echo err >&2; exit 3"]) == (3, "out\n", "err\n")
    assert ancestors() and ancestors()[0][0] == os.getppid()
