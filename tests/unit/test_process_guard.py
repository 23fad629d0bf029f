# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The guard of tests/unit/conftest.py: a unit test that starts a process fails, naming where such tests belong."""

import os
import subprocess

import pytest


@pytest.mark.parametrize("start", [
    lambda: subprocess.run(["true"], check=False),
    lambda: subprocess.check_output(["echo", "x"]),
    lambda: os.popen("true").read(),
    lambda: os.system("true"),
])
def test_a_process_start_fails_the_test(start):
    with pytest.raises(AssertionError, match=r"a unit test started a process .*tests/integration or lab/tests"):
        start()
