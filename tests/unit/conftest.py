# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make ``ansible_collections.portkey_ai.gateway`` importable from this checkout.

collections/ansible_collections/portkey_ai/gateway is a symlink to the repository root.
"""

import os
import sys

COLLECTIONS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "collections"))
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
