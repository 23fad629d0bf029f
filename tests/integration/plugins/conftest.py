# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plugin tests that start processes (helm, git, openssl, redis-server, the API emulator, credential plugins): they
moved here from tests/unit, which starts none (docs/dev/testing.md, "Test harness"). They need no running lab: each
starts what it uses (lab.services' launchers). ``ansible_collections.portkey_ai.gateway`` comes from this checkout,
and tests/unit/plugins/modules/module_runner.py (run a module's main() in this process) is shared with the unit
tests."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
for path in (os.path.join(ROOT, "collections"), os.path.join(ROOT, "tests", "unit", "plugins", "modules"),
             os.path.join(ROOT, "tests", "unit", "plugins", "module_utils"), ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)
