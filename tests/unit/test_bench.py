# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of scripts/bench.py's pure functions (no lab needed)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('portkey_bench', ROOT / 'scripts' / 'bench.py')
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


RECAP_TEXT = """
PLAY RECAP *********************************************************************
bench-1                    : ok=40   changed=5    unreachable=0    failed=0    skipped=11   rescued=0    ignored=0
bench-2                    : ok=38   changed=0    unreachable=1    failed=2    skipped=3    rescued=1    ignored=1
localhost                  : ok=1    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
"""


def _doc():
    """A json-callback document: 2 plays, an include without result, ok/changed/skipped/failed results."""
    def task(name, start, end, hosts):
        return {'task': {'name': name, 'duration': {'start': start, 'end': end}}, 'hosts': hosts}
    return {
        'plays': [
            {'play': {'name': 'Deploy'}, 'tasks': [
                task('fetch', '2026-01-01T00:00:01.000000Z', '2026-01-01T00:00:02.500000Z',
                     {'a': {'action': 'chart_source', 'changed': False},
                      'b': {'action': 'chart_source', 'changed': True}}),
                {'task': {'name': 'include', 'duration': {'start': '2026-01-01T00:00:02.600000Z'}}, 'hosts': {}},
                task('apply', '2026-01-01T00:00:03.000000Z', '2026-01-01T00:00:03.250000Z',
                     {'a': {'action': 'k8s', 'skipped': True, 'changed': False},
                      'b': {'action': 'k8s', 'failed': True}}),
            ]},
            {'play': {'name': 'Summary'}, 'tasks': [
                task('summary', '2026-01-01T00:00:04.000000Z', '2026-01-01T00:00:04.100000Z',
                     {'localhost': {'action': 'debug', 'changed': False}}),
            ]},
        ],
        'stats': {'a': {'ok': 1, 'changed': 0, 'failures': 0, 'skipped': 1}},
    }


@pytest.mark.parametrize('values, expected', [
    ([3.0, 1.0, 2.0], 2.0),
    ([4, 1, 3, 2], 2.5),
    ([7.5], 7.5),
    ([1.0, None, 3.0], 2.0),
    ([], None),
])
def test_median(values, expected):
    assert bench.median(values) == expected


def test_median_accepts_generators():
    assert bench.median(x for x in (5, 1, 9)) == 5


@pytest.mark.parametrize('num, den, expected', [
    (10.0, 4.0, 2.5),
    (1.0, 0.0, None),
    (None, 2.0, None),
    (2.0, None, None),
    (0.0, 3.0, 0.0),
])
def test_ratio(num, den, expected):
    assert bench.ratio(num, den) == expected


def test_parse_recap():
    recap = bench.parse_recap(RECAP_TEXT)
    assert set(recap) == {'bench-1', 'bench-2', 'localhost'}
    assert recap['bench-1'] == {'ok': 40, 'changed': 5, 'unreachable': 0, 'failed': 0, 'skipped': 11,
                                'rescued': 0, 'ignored': 0}
    assert recap['bench-2']['unreachable'] == 1 and recap['bench-2']['failed'] == 2


def test_recap_tasks_does_not_count_changed_twice():
    recap = bench.parse_recap(RECAP_TEXT)
    assert bench.recap_tasks(recap['bench-1']) == 51            # ok (incl. 5 changed) + skipped
    assert bench.recap_tasks(recap['bench-2']) == 38 + 2 + 3 + 1
    assert bench.recap_tasks({'ok': 2, 'failures': 1, 'skipped': 1}) == 4   # json callback stats naming


def test_parse_recap_empty():
    assert bench.parse_recap('no recap here') == {}


def test_parse_json_output_skips_leading_noise():
    doc = _doc()
    assert bench.parse_json_output('[WARNING]: something\n' + json.dumps(doc)) == doc
    with pytest.raises(ValueError):
        bench.parse_json_output('ERROR! no json')


@pytest.mark.parametrize('result, status', [
    ({'changed': False}, 'ok'),
    ({'changed': True}, 'changed'),
    ({'skipped': True, 'changed': False}, 'skipped'),
    ({'failed': True, 'changed': True}, 'failed'),
    ({'unreachable': True}, 'failed'),
])
def test_result_status(result, status):
    assert bench.result_status(result) == status


def test_count_tasks():
    counts = bench.count_tasks(_doc())
    assert counts['results'] == 5
    assert counts['tasks'] == 3                      # the include without a result is not a task run
    assert (counts['ok'], counts['changed'], counts['skipped'], counts['failed']) == (2, 1, 1, 1)
    assert counts['per_host'] == {'a': 2, 'b': 2, 'localhost': 1}


def test_count_tasks_empty_document():
    assert bench.count_tasks({})['results'] == 0


def test_parse_ts():
    assert bench.parse_ts('1970-01-01T00:00:01.500000Z') == 1.5
    assert bench.parse_ts(None) is None


def test_task_timings():
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    timings = bench.task_timings(_doc(), started_at=start, ended_at=start + 5)
    rows = timings['tasks']
    assert [r['task'] for r in rows] == ['fetch', 'include', 'apply', 'summary']
    assert rows[0]['seconds'] == 1.5 and rows[0]['gap_before'] == 0.0
    assert rows[0]['status'] == 'changed,ok' and rows[2]['status'] == 'failed,skipped' and rows[1]['status'] == '-'
    assert rows[1]['seconds'] == 0.0 and rows[1]['action'] == 'include'   # no end: counted as instant
    assert rows[2]['gap_before'] == 0.4 and rows[2]['seconds'] == 0.25
    assert rows[3]['gap_before'] == 0.75
    assert timings['startup'] == 1.0
    assert timings['teardown'] == pytest.approx(0.9)
    assert timings['tasks_total'] == pytest.approx(1.85)


def test_merge_breakdowns_takes_medians_per_task():
    one = {'tasks': [{'task': 't', 'action': 'x', 'play': 'p', 'seconds': 1.0, 'gap_before': 0.0}],
           'startup': 2.0, 'teardown': 0.1, 'tasks_total': 1.0, 'gaps_total': 0.0}
    two = {'tasks': [{'task': 't', 'action': 'x', 'play': 'p', 'seconds': 3.0, 'gap_before': 0.2}],
           'startup': 4.0, 'teardown': 0.3, 'tasks_total': 3.0, 'gaps_total': 0.2}
    three = {'tasks': [{'task': 't', 'action': 'x', 'play': 'p', 'seconds': 2.0, 'gap_before': 0.1}],
             'startup': 3.0, 'teardown': 0.2, 'tasks_total': 2.0, 'gaps_total': 0.1}
    merged = bench.merge_breakdowns([one, two, three])
    assert merged['tasks'][0]['seconds'] == 2.0 and merged['tasks'][0]['gap_before'] == 0.1
    assert merged['startup'] == 3.0
    assert merged['tasks'][0]['samples'] == 3
    assert bench.merge_breakdowns([]) == {'tasks': []}


def test_merge_breakdowns_matches_tasks_by_name_not_position():
    def row(name, seconds):
        return {'task': name, 'action': 'x', 'play': 'p', 'seconds': seconds, 'gap_before': 0.0}
    old = {'tasks': [row('a', 1.0), row('b', 2.0), row('b', 4.0)]}
    new = {'tasks': [row('added', 0.5), row('a', 3.0), row('b', 2.0), row('b', 6.0)]}
    merged = bench.merge_breakdowns([old, new])
    assert [(r['task'], r['seconds'], r['samples']) for r in merged['tasks']] == [
        ('added', 0.5, 1), ('a', 2.0, 2), ('b', 2.0, 2), ('b', 5.0, 2)]


def test_summarize():
    assert bench.summarize([3.0, 1.0, 2.0]) == {'median': 2.0, 'min': 1.0, 'max': 3.0, 'runs': [3.0, 1.0, 2.0]}
    assert bench.summarize([])['median'] is None


def test_utc_stamp():
    assert bench.utc_stamp(dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)) == '20260304T050607Z'


def _raw_run(seconds, cpu, rss=80.0, changed=0):
    return {'seconds': seconds, 'cpu_seconds': cpu, 'max_rss_mib': rss, 'changed': changed, 'tasks': {'results': 1},
            'timings': {'tasks': [], 'startup': 1, 'teardown': 0, 'tasks_total': 0, 'gaps_total': 0}}


def _figures_doc():
    r = _raw_run
    return {'raw': {'converge': [r(20, 10, 88), r(30, 12, 90), r(25, 11, 89)], 'noop': [r(8, 5), r(9, 6), r(12, 7)],
                    'noop_modules': [r(12, 9)] * 3, 'noop_no_preload': [r(10, 7, 85)] * 3,
                    'peer_converge': [r(22, 12, 80)] * 3, 'peer_noop': [r(9, 6, 81)] * 3,
                    'floor_converge': [{'seconds': 1.0, 'cpu_seconds': 0.2, 'max_rss_mib': 70, 'tasks': {'steps': 4}}] * 3,
                    'floor_rerun': [{'seconds': 0.5, 'cpu_seconds': 0.2, 'max_rss_mib': 70, 'tasks': {'steps': 4}}] * 3,
                    'fleet1_converge': [r(20, 10)] * 3, 'fleet1_noop': [r(10, 6)] * 3,
                    'fleet10_converge': [r(50, 100)] * 3, 'fleet10_noop': [r(25, 40)] * 3},
            'machine': {'nproc': 2, 'loadavg_start': [1.0, 1.0, 1.0]}, 'options': {'runs': 3}}


def test_figures_ratios_to_the_peer():
    doc = _figures_doc()
    bench.Bench.figures(doc, (1, 10))
    ratios = doc['ratios']
    assert doc['medians']['converge']['median'] == 25
    assert doc['cpu_seconds']['noop']['median'] == 6
    assert ratios['noop_over_peer_noop_cpu'] == 1.0              # CPU-seconds: 6 / 6
    assert ratios['converge_over_peer_converge_cpu'] == 0.917     # 11 / 12
    assert ratios['noop_over_peer_noop'] == 1.0                   # wall: 9 / 9
    assert ratios['converge_over_peer_converge'] == 1.136
    assert ratios['peak_memory_over_peer'] == 1.111               # 90 MiB (worst of ours) / 81 MiB (worst of the peer)
    assert ratios['noop_over_noop_modules_cpu'] == 0.667
    assert ratios['noop_no_preload_over_peer_noop_cpu'] == 1.167
    assert ratios['noop_no_preload_memory_over_peer'] == 1.049
    assert ratios['converge_over_floor'] == 25.0
    assert ratios['fleet10_over_fleet1_noop'] == 2.5
    assert ratios['fleet10_noop_cpu_per_cluster'] == 4.0
    assert doc['ratios_per_run']['noop_over_peer_noop_cpu'] == [0.833, 1.0, 1.167]
    assert doc['scaling']['min_wall_seconds_by_cores'] == {'1': 40.0, '2': 20.0, '4': 10.0, '8': 5.0}


def test_figures_targets():
    doc = _figures_doc()
    bench.Bench.figures(doc, (1, 10))
    targets = doc['targets']
    assert targets['noop_vs_peer_cpu']['met'] is True               # 1.0 <= 1.0
    assert targets['converge_vs_peer_cpu']['met'] is True
    assert targets['peak_memory_vs_peer']['met'] is False           # 1.111 > 1.1
    assert targets['fleet10_under_3x_fleet1']['met'] is True
    assert targets['fleet_noop_cpu_per_cluster_halved'] == {
        'target': 4.49, 'value': 4.0, 'met': True, 'note': 'before: 8.98 CPU-s per cluster'}
    assert doc['tasks']['floor_converge'] == {'steps': 4}


def test_figures_without_a_peer_has_no_peer_ratio():
    doc = _figures_doc()
    for key in ('peer_converge', 'peer_noop', 'noop_modules', 'noop_no_preload'):
        del doc['raw'][key]
    bench.Bench.figures(doc, (1, 10))
    assert doc['ratios']['noop_over_peer_noop_cpu'] is None
    assert doc['targets']['noop_vs_peer_cpu']['met'] is False


def test_report_and_markdown():
    doc = _figures_doc()
    bench.Bench.figures(doc, (1, 10))
    table = bench.markdown(doc)
    assert '| converge | 11.00 | 25.00s | 20.00s | 30.00s | 20.0, 30.0, 25.0 | 90.00 | 1 (0 changed) |' in table
    assert '| floor_converge | 0.20 | 1.00s |' in table and '4 shell steps' in table
    assert '| peak_memory_vs_peer | 1.11 | 1.1 | **no** |' in table
    text = bench.report(doc)
    assert 'target noop_vs_peer_cpu: 1.00 (<= 1.0) -> met' in text
    assert 'target peak_memory_vs_peer: 1.11 (<= 1.1) -> NOT met' in text


def test_rusage_figures():
    class Usage:
        ru_utime, ru_stime, ru_maxrss = 1.25, 0.5, 92160
    assert bench.rusage_figures(Usage) == {'cpu_seconds': 1.75, 'max_rss_mib': 90.0}


def test_load_lab_env(tmp_path):
    (tmp_path / 'env').write_text("export KUBECONFIG='/x/kubeconfig'\n# comment\nexport A=\"b c\"\nB=1\n")
    assert bench.load_lab_env(tmp_path) == {'KUBECONFIG': '/x/kubeconfig', 'A': 'b c', 'B': '1'}
    with pytest.raises(bench.BenchError):
        bench.load_lab_env(tmp_path / 'missing')
