# -*- coding: utf-8 -*-
# Copyright: Contributors to the portkey_ai.gateway project
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs the cluster_check module in the controller's worker (plugins/plugin_utils/_inprocess.py); docs: the module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portkey_ai.gateway.plugins.plugin_utils._inprocess import InProcessModuleAction, preload

preload()


class ActionModule(InProcessModuleAction):
    MODULE = "cluster_check"
