# -*- coding: utf-8 -*-
# Copyright: (c) 2025, portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):
    """The attributes the collection's modules share (with ansible.builtin.action_common_attributes, which describes
    them). A module's own attributes entries win over these."""

    # Every module runs on a POSIX controller or host.
    DOCUMENTATION = r"""
attributes:
  platform:
    platforms: posix
"""

    # A check that only reads: the same in check mode, no diff.
    READ_ONLY = r"""
attributes:
  platform:
    platforms: posix
  check_mode:
    support: full
    details: Read-only; runs the same check in check mode.
  diff_mode:
    support: none
"""

    # An AWS reconciler: check mode computes the plan and changes nothing.
    PLAN = r"""
attributes:
  platform:
    platforms: posix
  check_mode:
    support: full
    details: Computes the same plan and reports it without changing anything.
"""

    # The helm binary of the modules that run helm.
    HELM = r"""
options:
  helm_binary:
    description: helm binary, a name on PATH or a path (for example C(helm4)).
    type: str
    default: helm
"""
