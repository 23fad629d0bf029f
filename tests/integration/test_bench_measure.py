# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""scripts/bench.py's measure() on real processes (no lab needed; its pure functions: tests/unit/test_bench.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('portkey_bench_measure', ROOT / 'scripts' / 'bench.py')
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_measure_counts_the_command_and_its_children():
    proc = bench.measure(['sh', '-c', 'echo out; echo err >&2; sh -c "exit 0"; exit 3'], {'PATH': '/usr/bin:/bin'})
    assert proc['returncode'] == 3
    assert proc['stdout'] == 'out\n' and proc['stderr'] == 'err\n'
    assert proc['cpu_seconds'] >= 0 and proc['max_rss_mib'] > 0 and proc['timed_out'] is False
