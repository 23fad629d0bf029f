# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make ``ansible_collections.portkey_ai.gateway`` importable from this checkout, and fail a unit test that starts
a process.

collections/ansible_collections/portkey_ai/gateway is a symlink to the repository root.
"""

import contextlib
import os
import subprocess
import sys

import pytest

COLLECTIONS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "collections"))
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


# ---------------------------------------------------------------------------------------------------------------
# Unit tests start no process (docs/dev/testing.md, "Test harness"): tests that run helm, kubectl, git, openssl,
# redis-server, the emulator or ansible-* live in tests/integration (or lab/tests), where the lab and the tools are
# expected. Every process start goes through subprocess.Popen._execute_child (subprocess.run/call/check_output,
# os.popen, AnsibleModule.run_command, asyncio) or os.system / os.posix_spawn* / os.fork / os.exec*; each raises
# here. There is no opt-out: a test that needs a process is not a unit test.

GUARD_MESSAGE = ("a unit test started a process ({what}): tests that start processes (helm, kubectl, git, openssl, "
                 "servers, ansible-*) belong in tests/integration or lab/tests, see docs/dev/testing.md "
                 "'Test harness'; in a unit test, replace the call (e.g. pass a fake run_command)")


class ProcessStartedInUnitTest(AssertionError):
    """Raised when a unit test tries to start a process."""


def _refuse(what):
    def refuse(*args, **kwargs):
        argv = args[1] if what == "subprocess.Popen" and len(args) > 1 else (args[0] if args else "")
        raise ProcessStartedInUnitTest(GUARD_MESSAGE.format(what="%s %r" % (what, argv)))
    return refuse


@contextlib.contextmanager
def process_guard():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "_execute_child", _refuse("subprocess.Popen"))
        for name in ("system", "posix_spawn", "posix_spawnp", "fork", "forkpty", "execv", "execve", "execvp",
                     "execvpe", "spawnv", "spawnve", "spawnvp", "spawnvpe"):
            if hasattr(os, name):
                patch.setattr(os, name, _refuse("os." + name))
        yield


# The guard wraps each phase of every test under tests/unit (these hooks of a conftest apply to its folder only):
# setup (fixtures of every scope start there), the test itself and teardown. Tests elsewhere in the same pytest run
# (tests/integration, lab/tests) are not affected.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    with process_guard():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with process_guard():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    with process_guard():
        return (yield)
