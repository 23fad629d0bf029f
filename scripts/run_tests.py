#!/usr/bin/env python3
"""Run every test suite of the project (`make test`) and print one summary with counts.

Stages run in order; a failing stage does not stop the others, and the exit code is non-zero when any
stage failed. pytest stages report their own test counts (from JUnit XML); tool stages (linters,
ansible-test, molecule) count as one check each. The lab is started before the stages that need it and
always stopped at the end.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from lab import services  # noqa: E402 (the lab's env file and folder: one parser, lab/services.py)

VENV_BIN = ROOT / '.venv' / 'bin'
OUT = ROOT / 'tests' / 'output' / 'make-test'
REPORT = ROOT / 'tests' / 'output' / 'integration-report.txt'  # count lines of the reliability suites


@dataclass
class Result:
    stage: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env['PATH'] = f"{VENV_BIN}:{env.get('PATH', '')}"
    env['ANSIBLE_CONFIG'] = str(ROOT / 'ansible.cfg')
    env.setdefault('ANSIBLE_FORCE_COLOR', '0')
    env['PYTHONDONTWRITEBYTECODE'] = '1'
    return env


def lab_env() -> dict[str, str]:
    """base_env() with the variables of the lab that lab_up started ($PORTKEY_LAB_DIR, default .lab/)."""
    return services.lab_env(base=base_env())


def run(cmd: list[str], env: dict[str, str], log_name: str, cwd: Path = ROOT) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f'{log_name}.log'
    print(f"  $ {' '.join(cmd)}", flush=True)
    with log.open('w') as fh:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    tail = log.read_text(errors='replace').splitlines()[-25:]
    if proc.returncode != 0:
        print(f'  -> rc={proc.returncode}; last lines of {log.relative_to(ROOT)}:')
        for line in tail:
            print(f'     {line}')
    return proc.returncode


def junit_counts(path: Path) -> tuple[int, int, int]:
    if not path.exists():
        return 0, 0, 0
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == 'testsuite' else root.findall('testsuite')
    tests = failures = errors = skipped = 0
    for s in suites:
        tests += int(s.get('tests', 0))
        failures += int(s.get('failures', 0))
        errors += int(s.get('errors', 0))
        skipped += int(s.get('skipped', 0))
    failed = failures + errors
    return tests - failed - skipped, failed, skipped


def pytest_stage(name: str, paths: list[str], env: dict[str, str], extra: list[str] | None = None) -> Result:
    res = Result(name)
    junit = OUT / f'{name}.xml'
    existing = [p for p in paths if (ROOT / p).exists()]
    if not existing:
        res.notes.append('no tests found')
        res.failed = 1
        return res
    cmd = [str(VENV_BIN / 'python'), '-m', 'pytest', '-q', '-p', 'no:cacheprovider', f'--junitxml={junit}',
           *(extra or []), *existing]
    rc = run(cmd, env, name)
    res.passed, res.failed, res.skipped = junit_counts(junit)
    if rc not in (0,) and res.failed == 0:
        res.failed = 1
        res.notes.append(f'pytest rc={rc}')
    return res


def tool_stage(name: str, cmds: list[list[str]], env: dict[str, str], cwd: Path = ROOT) -> Result:
    res = Result(name)
    for i, cmd in enumerate(cmds):
        if run(cmd, env, f'{name}-{i}', cwd=cwd) == 0:
            res.passed += 1
        else:
            res.failed += 1
            res.notes.append(f'failed: {cmd[0]} {cmd[1] if len(cmd) > 1 else ""}'.strip())
    return res


def drop_installed_copy() -> None:
    """molecule (ansible-compat) installs this collection into ~/.ansible/collections; a copy left there by an
    earlier run shadows the checkout for ansible-lint (a module added since is then 'unknown'). Remove it."""
    copy = Path.home() / '.ansible' / 'collections' / 'ansible_collections' / 'portkey_ai' / 'gateway'
    if copy.is_dir() and not copy.is_symlink():
        shutil.rmtree(copy)


def stage_lint(env: dict[str, str]) -> Result:
    drop_installed_copy()
    return tool_stage('lint', [
        [str(VENV_BIN / 'yamllint'), '-s', '.'],
        [str(VENV_BIN / 'ansible-lint'), '--offline', '-q'],
        [str(VENV_BIN / 'antsibull-changelog'), 'lint'],
    ], {**env, 'ANSIBLE_COLLECTIONS_PATH': str(ROOT / 'collections')})


def collection_copy() -> Path:
    """A real (non-symlinked) copy of the tracked and untracked, non-ignored files, laid out as
    ansible_collections/portkey_ai/gateway, which ansible-test requires."""
    dest_root = ROOT / '.build' / 'sanity'
    dest = dest_root / 'ansible_collections' / 'portkey_ai' / 'gateway'
    if dest_root.exists():
        shutil.rmtree(dest_root)
    files = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard', '-z'], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split('\0')
    build_ignore_prefixes = ('collections/', 'lab/', '.ci/', 'scripts/', 'requirements/', 'awx/')
    for rel in filter(None, files):
        src = ROOT / rel
        if rel.startswith(build_ignore_prefixes) or not src.exists() or src.is_symlink():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    subprocess.run(['git', 'init', '-q'], cwd=dest, check=True)
    subprocess.run(['git', 'add', '-A'], cwd=dest, check=True)
    # The collections ours imports from (amazon.aws, kubernetes.core), next to it as ansible-test expects.
    import ansible_collections  # the ones bundled in the `ansible` package of the venv
    bundled = Path(next(iter(ansible_collections.__path__)))
    for namespace in ('amazon', 'kubernetes'):
        (dest_root / 'ansible_collections' / namespace).symlink_to(bundled / namespace)
    return dest


OLDEST_CORE_BIN = ROOT / '.tools' / 'core-oldest' / 'bin'


def stage_sanity(env: dict[str, str]) -> Result:
    """ansible-test sanity on the newest (the venv's) and the oldest ansible-core of the supported range."""
    dest = collection_copy()
    py = f'{sys.version_info.major}.{sys.version_info.minor}'
    cmds = [[str(bin_dir / 'ansible-test'), 'sanity', '--venv', '--python', py]
            for bin_dir in (VENV_BIN, OLDEST_CORE_BIN)]
    return tool_stage('sanity', cmds, env, cwd=dest)


def stage_unit(env: dict[str, str]) -> Result:
    return pytest_stage('unit', ['tests/unit'], env, ['--cov=plugins', '--cov-report=term'])


def lab_up(env: dict[str, str]) -> bool:
    return run([str(VENV_BIN / 'python'), 'lab/labctl.py', 'up'], env, 'lab-up') == 0


def lab_down(env: dict[str, str]) -> None:
    run([str(VENV_BIN / 'python'), 'lab/labctl.py', 'down'], env, 'lab-down')


def stage_molecule(env: dict[str, str]) -> Result:
    """`molecule test -s <name>` for every scenario but kind (it needs Docker); one check per scenario, each listed
    in the summary as passed or failed with its time (its log: tests/output/make-test/molecule-<name>.log)."""
    scenarios = sorted(p.parent.name for p in (ROOT / 'molecule').glob('*/molecule.yml')
                       if p.parent.name != 'kind')
    res = Result('molecule')
    for name in scenarios:
        t0 = time.monotonic()
        ok = run([str(VENV_BIN / 'molecule'), 'test', '-s', name], env, f'molecule-{name}') == 0
        res.passed += ok
        res.failed += not ok
        res.notes.append(f"scenario {name}: {'passed' if ok else 'FAILED'} ({time.monotonic() - t0:.0f}s)")
        print(f'   {res.notes[-1]}', flush=True)
    drop_installed_copy()
    if not scenarios:
        res.failed, res.notes = 1, ['no molecule scenarios found']
    return res


STAGES = ['lint', 'unit', 'sanity', 'lab', 'integration', 'molecule']


def coverage_line() -> str:
    log = OUT / 'unit.log'
    if log.exists():
        for line in reversed(log.read_text().splitlines()):
            if line.startswith('TOTAL'):
                return f'unit test coverage of plugins/: {line.split()[-1]}'
    return ''


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--only', choices=STAGES, action='append')
    args = parser.parse_args()
    stages = args.only or STAGES
    env = base_env()
    results: list[Result] = []
    started = time.monotonic()
    needs_lab = any(s in stages for s in ('lab', 'integration', 'molecule'))
    lab_ok = False
    try:
        for stage in stages:
            t0 = time.monotonic()
            print(f'== {stage}', flush=True)
            if stage in ('lab', 'integration', 'molecule') and not lab_ok:
                lab_ok = lab_up(env)
                if not lab_ok:
                    results.append(Result(stage, failed=1, notes=['lab did not start']))
                    continue
            if stage == 'lint':
                res = stage_lint(env)
            elif stage == 'unit':
                res = stage_unit(env)
            elif stage == 'sanity':
                res = stage_sanity(env)
            elif stage == 'lab':
                res = pytest_stage('lab', ['lab/tests'], lab_env())
            elif stage == 'integration':
                REPORT.unlink(missing_ok=True)
                res = pytest_stage('integration', ['tests/integration'],
                                   {**lab_env(), 'PORTKEY_TEST_REPORT': str(REPORT)})
                res.notes.extend(REPORT.read_text().splitlines() if REPORT.exists() else [])
            else:
                res = stage_molecule(lab_env())
            res.seconds = time.monotonic() - t0
            results.append(res)
            print(f'   {stage}: {res.passed} passed, {res.failed} failed, {res.skipped} skipped '
                  f'({res.seconds:.0f}s) {"; ".join(res.notes)}', flush=True)
    finally:
        if needs_lab:
            lab_down(env)
    total_p = sum(r.passed for r in results)
    total_f = sum(r.failed for r in results)
    total_s = sum(r.skipped for r in results)
    print('\n==== make test summary ====')
    print(f"{'stage':<12} {'passed':>7} {'failed':>7} {'skipped':>8} {'time':>7}")
    for r in results:
        print(f'{r.stage:<12} {r.passed:>7} {r.failed:>7} {r.skipped:>8} {r.seconds:>6.0f}s')
        for note in r.notes:
            print(f'    {note}')
    cov = coverage_line()
    if cov:
        print(cov)
    print(f'total time {time.monotonic() - started:.0f}s; logs in {OUT.relative_to(ROOT)}')
    print(f'{total_p} passed, {total_f} failed, {total_s} skipped')
    return 1 if total_f else 0


if __name__ == '__main__':
    sys.exit(main())
