#!/usr/bin/env python3
"""Benchmark of site.yml in the local lab (`make bench`; see docs/benchmark.md).

Measures, each over --runs runs, interleaved (medians printed, raw figures kept in the JSON), wall seconds,
CPU-seconds (user + system of the command and everything it started) and peak memory (max RSS of one process):
  converge       site.yml from an empty lab (a new release, namespace, S3 bucket and IAM policy each run)
  noop           the rerun right after (changed=0 expected)
  noop_modules   the same no-op with PORTKEY_IN_PROCESS=0 (every module of the collection started as a process)
  noop_no_preload  the same no-op with PORTKEY_PRELOAD=0 (in-process modules, Kubernetes client not preloaded)
  peer           bench/peer.yml, the runbook's steps as a hand-written kubernetes.core + amazon.aws playbook (6 tasks):
                 its converge from empty and its rerun, same lab
  floor          scripts/bench_floor.sh (the runbook's manual steps) and its rerun, same lab
  fleet-N        converge and no-op rerun over N emulated clusters (labctl cluster-up bench-1..bench-N), forks=N
and the ratios to the peer (CPU-seconds first: wall time depends on the other load of the machine), converge/floor,
fleet-10/fleet-1, the number of tasks executed (from the ansible.posix.json callback) and a per-task breakdown of
the no-op runs.

Writes bench-results/bench-<UTC>.json and bench-results/latest.json. Leaves the lab as it found it: every release,
namespace, bucket and policy it made is removed and every cluster it started is stopped, also on failure or ^C.
The chart cache (.lab/chart-cache) stays warm between runs on purpose: it is the steady state of a controller.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from lab import runner, services  # noqa: E402 (the lab's env file and labctl; the playbook environment)

VENV_BIN = ROOT / '.venv' / 'bin'
RESULTS_DIR = ROOT / 'bench-results'
FLOOR_SCRIPT = ROOT / 'scripts' / 'bench_floor.sh'
PEER_PLAYBOOK = ROOT / 'bench' / 'peer.yml'
FLEET_SIZES = (1, 3, 10)
QUICK_FLEET_SIZES = (1, 3)
TARGET_FLEET_RATIO = 3.0
TARGET_PEER_RATIO = 1.0          # site.yml no-op and converge against the peer's, CPU-seconds
TARGET_MEMORY_RATIO = 1.1        # peak memory against the peer's
# CPU-seconds per cluster of the fleet-10 no-op before issue 13 (bench of 2026-11-30: 89.8 CPU-s / 10 clusters)
BASELINE_FLEET_NOOP_CPU_PER_CLUSTER = 8.98
PLAYBOOK_TIMEOUT = 900


class BenchError(Exception):
    """A failure that stops the benchmark (after cleaning up)."""


# ---------------------------------------------------------------------------------------------------------------
# Pure functions (unit-tested in tests/unit/test_bench.py)


def median(values) -> float | None:
    """Median of the numbers in values (None when empty)."""
    values = [float(v) for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


parse_recap = runner.parse_recap   # PLAY RECAP lines -> {host: {ok, changed, unreachable, failed, skipped, ...}}


def recap_tasks(counts: dict[str, int]) -> int:
    """Task results one recap line stands for. ok already includes changed (Ansible counts a changed result as ok
    too), so executed = ok + failed + skipped + unreachable (+ rescued/ignored are already in ok/failed)."""
    return counts.get('ok', 0) + counts.get('failed', counts.get('failures', 0)) + counts.get('skipped', 0) \
        + counts.get('unreachable', 0)


def parse_json_output(stdout: str) -> dict:
    """The ansible.posix.json callback's document (ignores anything printed before the opening brace)."""
    start = stdout.find('{')
    if start < 0:
        raise ValueError('no JSON document in the output')
    return json.loads(stdout[start:])


def result_status(result: dict) -> str:
    """failed / skipped / changed / ok for one host's task result in the json callback."""
    if result.get('failed') or result.get('unreachable'):
        return 'failed'
    if result.get('skipped'):
        return 'skipped'
    if result.get('changed'):
        return 'changed'
    return 'ok'


def count_tasks(doc: dict) -> dict:
    """Task results in a json-callback document: total, per status, per host, and the number of distinct tasks."""
    counts = {'results': 0, 'ok': 0, 'changed': 0, 'failed': 0, 'skipped': 0, 'tasks': 0, 'per_host': {}}
    for play in doc.get('plays', []):
        for task in play.get('tasks', []):
            hosts = task.get('hosts') or {}
            if not hosts:
                continue            # include_* / meta entries without a result
            counts['tasks'] += 1
            for host, result in hosts.items():
                status = result_status(result)
                counts[status] += 1
                counts['results'] += 1
                counts['per_host'][host] = counts['per_host'].get(host, 0) + 1
    return counts


def parse_ts(value: str | None) -> float | None:
    """'2026-01-01T00:00:00.123456Z' (json callback) -> POSIX seconds."""
    if not value:
        return None
    return dt.datetime.fromisoformat(value.rstrip('Z')).replace(tzinfo=dt.timezone.utc).timestamp()


def task_timings(doc: dict, started_at: float | None = None, ended_at: float | None = None) -> dict:
    """Per-task durations of one run (json callback timestamps) and where the rest of the wall time went.

    Returns {'tasks': [{play, task, action, seconds, gap_before}], 'startup': s, 'teardown': s, 'tasks_total': s,
    'gaps_total': s}: startup = process start -> first task start (python, inventory, collections, play set-up);
    gap_before = previous task's end -> this task's start (strategy: templating, includes, the summary play)."""
    rows, prev_end, first_start, last_end = [], None, None, None
    for play in doc.get('plays', []):
        for task in play.get('tasks', []):
            info = task.get('task', {})
            start = parse_ts(info.get('duration', {}).get('start'))
            end = parse_ts(info.get('duration', {}).get('end')) or start
            if start is None:
                continue
            first_start = start if first_start is None else first_start
            results = (task.get('hosts') or {}).values()
            actions = sorted({r.get('action', '') for r in results})
            rows.append({'play': play.get('play', {}).get('name', ''), 'task': info.get('name', ''),
                         'action': ','.join(a for a in actions if a) or 'include',
                         'status': ','.join(sorted({result_status(r) for r in results})) or '-',
                         'seconds': round(end - start, 4),
                         'gap_before': round(start - prev_end, 4) if prev_end is not None else 0.0})
            prev_end = end
            last_end = end
    tasks_total = sum(r['seconds'] for r in rows)
    gaps_total = sum(r['gap_before'] for r in rows)
    return {'tasks': rows, 'tasks_total': round(tasks_total, 4), 'gaps_total': round(gaps_total, 4),
            'startup': round(first_start - started_at, 4) if started_at and first_start else None,
            'teardown': round(ended_at - last_end, 4) if ended_at and last_end else None}


def merge_breakdowns(breakdowns: list[dict]) -> dict:
    """Median per task over several runs of the same playbook. Tasks are matched by name and occurrence (the n-th
    task of that name), so a task added or removed between runs does not shift the others; the order is the last
    run's."""
    if not breakdowns:
        return {'tasks': []}

    def keyed(rows):
        seen: dict[str, int] = {}
        out = {}
        for row in rows:
            n = seen[row['task']] = seen.get(row['task'], 0) + 1
            out[(row['task'], n)] = row
        return out

    runs = [keyed(b['tasks']) for b in breakdowns]
    rows = []
    for key, row in runs[-1].items():
        same = [r[key] for r in runs if key in r]
        rows.append({**row, 'seconds': round(median(r['seconds'] for r in same), 3),
                     'gap_before': round(median(r['gap_before'] for r in same), 3), 'samples': len(same)})
    out = {'tasks': rows}
    for key in ('startup', 'teardown', 'tasks_total', 'gaps_total'):
        out[key] = round(median(b.get(key) for b in breakdowns) or 0.0, 3)
    return out


def summarize(samples: list[float]) -> dict:
    return {'median': round(median(samples), 3) if samples else None,
            'min': round(min(samples), 3) if samples else None,
            'max': round(max(samples), 3) if samples else None,
            'runs': [round(s, 3) for s in samples]}


def rusage_figures(usage) -> dict:
    """CPU-seconds (user + system) and peak memory (MiB) of a resource.struct_rusage (os.wait4: the child and
    everything it waited for; ru_maxrss is the largest single process, in KiB on Linux)."""
    return {'cpu_seconds': round(usage.ru_utime + usage.ru_stime, 3), 'max_rss_mib': round(usage.ru_maxrss / 1024, 1)}


def measure(argv: list[str], env: dict, timeout: int = PLAYBOOK_TIMEOUT, cwd: Path = ROOT) -> dict:
    """Run argv; its returncode, stdout, stderr, wall seconds, CPU-seconds and peak memory (from os.wait4, so only
    this command and what it started are counted, whatever else runs on the machine)."""
    with tempfile.TemporaryFile('w+') as out, tempfile.TemporaryFile('w+') as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {'returncode': proc.returncode, 'stdout': out.read(), 'stderr': err.read(),
                'seconds': round(seconds, 3), 'timed_out': seconds >= timeout, **rusage_figures(usage)}


def utc_stamp(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime('%Y%m%dT%H%M%SZ')


def fmt(value: float | None, unit: str = 's') -> str:
    return '-' if value is None else f'{value:.2f}{unit}'


# ---------------------------------------------------------------------------------------------------------------
# The lab


def load_lab_env(lab_dir: Path) -> dict[str, str]:
    """The lab's variables (lab.services' env file parser)."""
    try:
        return services.read_env(lab_dir)
    except services.LabError as exc:
        raise BenchError(str(exc)) from None


def run(argv: list[str], env: dict, timeout: int = PLAYBOOK_TIMEOUT, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise BenchError(f'{" ".join(argv[:3])} ... failed (rc={proc.returncode}): {(proc.stderr or proc.stdout)[-2000:]}')
    return proc


def tool_version(argv: list[str], env: dict) -> str:
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
        return (proc.stdout or proc.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return 'unknown'


def machine_facts() -> dict:
    cpu_model = ''
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu_model = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        mem_kb = int(Path('/proc/meminfo').read_text().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {'nproc': os.cpu_count(), 'cpu_model': cpu_model, 'mem_total_mib': mem_kb // 1024,
            'loadavg_start': list(os.getloadavg()), 'platform': platform.platform(),
            'python': platform.python_version(), 'hostname': platform.node()}


class Lab:
    """Releases, namespaces, buckets and policies the bench makes, and how to remove them."""

    def __init__(self, env: dict, lab_dir: Path):
        self.env = env
        self.lab_dir = lab_dir
        self.started_clusters: list[str] = []

    def kubeconfig(self, cluster: str) -> str:
        if cluster == 'lab':
            return self.env['KUBECONFIG']
        return str(self.lab_dir / 'clusters' / cluster / 'kubeconfig')

    def labctl(self, *args: str) -> str:
        try:
            return services.labctl(*args, lab_dir=self.lab_dir, env=self.env).stdout
        except services.LabError as exc:
            raise BenchError(str(exc)) from None

    def running_clusters(self) -> set[str]:
        status = json.loads(self.labctl('status'))
        return {name for name, info in (status.get('clusters') or {}).items()
                if not isinstance(info, dict) or info.get('running', True)}

    def clusters_up(self, names: list[str]) -> None:
        already = self.running_clusters()
        todo = [n for n in names if n not in already]
        if todo:
            self.labctl('cluster-up', *todo)
            self.started_clusters.extend(todo)

    def clusters_down(self) -> None:
        if self.started_clusters:
            self.labctl('cluster-down', *self.started_clusters)
            self.started_clusters = []

    def remove_deployment(self, cluster: str, release: str, namespace: str, bucket: str | None) -> list[str]:
        """helm uninstall, delete the namespace (cascades NetworkPolicy, PDB), delete the bucket and IAM policy."""
        errors = []
        kubeconfig = self.kubeconfig(cluster)
        for argv in ([str(VENV_BIN / 'helm'), '--kubeconfig', kubeconfig, 'uninstall', release, '-n', namespace,
                      '--ignore-not-found', '--timeout', '60s'],
                     [str(VENV_BIN / 'kubectl'), '--kubeconfig', kubeconfig, 'delete', 'namespace', namespace,
                      '--ignore-not-found', '--wait=false']):
            proc = run(argv, self.env, timeout=120, check=False)
            if proc.returncode != 0:
                errors.append(f'{argv[3]} {release}: {proc.stderr.strip()[-300:]}')
        if bucket:
            errors.extend(self.remove_aws(bucket, f'{release}-log-store'))
        return errors

    def remove_security_group(self, name: str) -> list[str]:
        """The peer's security group (amazon.aws.ec2_security_group), in moto."""
        import boto3
        try:
            ec2 = boto3.client('ec2', endpoint_url=self.env.get('AWS_URL'),
                               region_name=self.env.get('AWS_REGION', 'us-east-1'),
                               aws_access_key_id=self.env.get('AWS_ACCESS_KEY_ID', 'testing'),
                               aws_secret_access_key=self.env.get('AWS_SECRET_ACCESS_KEY', 'testing'))
            groups = ec2.describe_security_groups(Filters=[{'Name': 'group-name', 'Values': [name]}])
            for group in groups['SecurityGroups']:
                ec2.delete_security_group(GroupId=group['GroupId'])
        except Exception as exc:  # noqa: BLE001 - report, keep cleaning the rest
            return [f'aws cleanup security group {name}: {exc}']
        return []

    def remove_aws(self, bucket: str, policy_name: str) -> list[str]:
        import boto3  # the venv has it (amazon.aws)
        errors = []
        kwargs = {'endpoint_url': self.env.get('AWS_URL'), 'region_name': self.env.get('AWS_REGION', 'us-east-1'),
                  'aws_access_key_id': self.env.get('AWS_ACCESS_KEY_ID', 'testing'),
                  'aws_secret_access_key': self.env.get('AWS_SECRET_ACCESS_KEY', 'testing')}
        try:
            s3 = boto3.client('s3', **kwargs)
            try:
                for obj in s3.list_objects_v2(Bucket=bucket).get('Contents', []):
                    s3.delete_object(Bucket=bucket, Key=obj['Key'])
                s3.delete_bucket(Bucket=bucket)
            except s3.exceptions.NoSuchBucket:
                pass
            iam = boto3.client('iam', **kwargs)
            for page in iam.get_paginator('list_policies').paginate(Scope='Local'):
                for policy in page['Policies']:
                    if policy['PolicyName'] == policy_name:
                        arn = policy['Arn']
                        for version in iam.list_policy_versions(PolicyArn=arn)['Versions']:
                            if not version['IsDefaultVersion']:
                                iam.delete_policy_version(PolicyArn=arn, VersionId=version['VersionId'])
                        iam.delete_policy(PolicyArn=arn)
        except Exception as exc:  # noqa: BLE001 - report, keep cleaning the rest
            errors.append(f'aws cleanup {bucket}/{policy_name}: {exc}')
        return errors


# ---------------------------------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.lab_dir = services.default_lab_dir()
        env = runner.playbook_env({'ANSIBLE_STDOUT_CALLBACK': 'ansible.posix.json'},
                                  base={**os.environ, **load_lab_env(self.lab_dir)}, aws_calls=False)
        env.pop('ANSIBLE_CALLBACKS_ENABLED', None)     # an aggregate callback would print into the JSON
        self.env = env
        self.lab = Lab(env, self.lab_dir)
        self.tmp = Path(tempfile.mkdtemp(prefix='portkey-bench-'))
        self.result_path = args.output_dir / f'bench-{utc_stamp()}.json'
        self.group_vars = self._group_vars()
        self.live: dict[str, tuple[str, str, str, str | None]] = {}   # key -> (cluster, release, namespace, bucket)
        self.cleanup_errors: list[str] = []

    def _group_vars(self) -> dict:
        import yaml
        path = ROOT / 'inventories' / 'lab' / 'group_vars' / 'portkey_gateways' / 'main.yml'
        return yaml.safe_load(path.read_text()) or {}

    # -- inventories -------------------------------------------------------------------------------------------

    def inventory(self, name: str, clusters: list[str]) -> tuple[Path, list[tuple[str, str, str, str]]]:
        """A temp inventory: the lab inventory's group_vars, one host per cluster with its own release, namespace,
        bucket (so every converge starts from empty)."""
        import yaml
        folder = self.tmp / name
        folder.mkdir(parents=True)
        shutil.copytree(ROOT / 'inventories' / 'lab' / 'group_vars', folder / 'group_vars')
        hosts, made = {}, []
        for cluster in clusters:
            release = f'bench-{uuid.uuid4().hex[:8]}'
            bucket = f'{release}-logs'
            environment = dict(self.group_vars.get('portkey_environment') or {})
            if 'LOG_STORE_GENERATIONS_BUCKET' in environment:
                environment['LOG_STORE_GENERATIONS_BUCKET'] = bucket
            log_store = dict(self.group_vars.get('portkey_log_store_aws') or {})
            if log_store:
                log_store['bucket'] = bucket
            hosts[cluster] = {
                'ansible_connection': 'local',
                'ansible_python_interpreter': '{{ ansible_playbook_python }}',
                'portkey_release_name': release,
                'portkey_namespace': release,
                'portkey_kubeconfig': self.lab.kubeconfig(cluster),
                'portkey_environment': environment,
                'portkey_log_store_aws': log_store,
            }
            made.append((cluster, release, release, bucket if log_store.get('enabled') else None))
        (folder / 'hosts.yml').write_text(yaml.safe_dump({'portkey_gateways': {'hosts': hosts}}, sort_keys=False))
        for entry in made:
            self.live[f'{entry[0]}/{entry[1]}'] = entry
        return folder, made

    def cleanup(self, made) -> None:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(made))) as pool:
            for errors in pool.map(lambda e: self.lab.remove_deployment(*e), made):
                self.cleanup_errors.extend(errors)
        for entry in made:
            self.live.pop(f'{entry[0]}/{entry[1]}', None)

    # -- runs --------------------------------------------------------------------------------------------------

    def playbook(self, inventory: Path | str, forks: int, label: str, playbook: str = 'site.yml',
                 extra: tuple[str, ...] = (), env: dict | None = None) -> dict:
        argv = runner.playbook_argv(playbook, inventory, '-f', str(forks), *extra)
        load = os.getloadavg()[0]
        wall0 = time.time()
        proc = measure(argv, dict(self.env, **(env or {})))
        wall1 = time.time()
        try:
            doc = parse_json_output(proc['stdout'])
        except ValueError:
            doc = {}
        counts = count_tasks(doc)
        stats = doc.get('stats', {})
        changed = sum(s.get('changed', 0) for h, s in stats.items() if h != 'localhost')
        failed = sum(s.get('failures', 0) + s.get('unreachable', 0) for s in stats.values())
        if proc['returncode'] != 0 or failed:
            raise BenchError(f'{label}: ansible-playbook failed (rc={proc["returncode"]}, failed={failed}): '
                             f'{proc["stderr"][-1500:]}{self._failed_tasks(doc)}')
        seconds, cpu = proc['seconds'], proc['cpu_seconds']
        changed_tasks = sorted({f'{host}: {task["task"]["name"]}' for play in doc.get('plays', [])
                                for task in play.get('tasks', []) for host, res in (task.get('hosts') or {}).items()
                                if host != 'localhost' and result_status(res) == 'changed'})
        return {'seconds': round(seconds, 3), 'cpu_seconds': round(cpu, 3), 'max_rss_mib': proc['max_rss_mib'],
                'load1': round(load, 2), 'changed': changed,
                'changed_tasks': changed_tasks if len(changed_tasks) <= 50 else changed_tasks[:50] + ['...'],
                'tasks': counts, 'timings': task_timings(doc, wall0, wall1)}

    @staticmethod
    def _failed_tasks(doc: dict) -> str:
        out = []
        for play in doc.get('plays', []):
            for task in play.get('tasks', []):
                for host, res in (task.get('hosts') or {}).items():
                    if result_status(res) == 'failed':
                        out.append(f'\n  {host}: {task["task"]["name"]}: {str(res.get("msg", ""))[:500]}')
        return ''.join(out)

    def converge_and_noop(self, name: str, clusters: list[str], modules_too: bool = False) -> tuple[dict, ...]:
        """converge, no-op (and, with modules_too, the no-op again with PORTKEY_IN_PROCESS=0, PORTKEY_PRELOAD=0)."""
        inventory, made = self.inventory(name, clusters)
        try:
            out = [self.playbook(inventory, len(clusters), f'{name} converge'),
                   self.playbook(inventory, len(clusters), f'{name} no-op')]
            if modules_too:
                out.append(self.playbook(inventory, len(clusters), f'{name} no-op (modules)',
                                         env={'PORTKEY_IN_PROCESS': '0'}))
                out.append(self.playbook(inventory, len(clusters), f'{name} no-op (no preload)',
                                         env={'PORTKEY_PRELOAD': '0'}))
            for noop in out[1:]:
                if noop['changed']:
                    print(f'  WARNING: {name} no-op rerun reported changed={noop["changed"]}: '
                          f'{"; ".join(noop["changed_tasks"][:5])}', flush=True)
        finally:
            self.cleanup(made)
        return tuple(out)

    def peer(self, name: str) -> tuple[dict, dict]:
        """bench/peer.yml from empty and its rerun (a new release, namespace and security group each run)."""
        release = f'bench-{uuid.uuid4().hex[:8]}'
        made = [('lab', release, release, None)]
        self.live[f'lab/{release}'] = made[0]
        workdir = self.tmp / name
        workdir.mkdir(parents=True)
        extra = ('-c', 'local', '-e', f'peer_release={release}', '-e', f'peer_namespace={release}',
                 '-e', f'peer_workdir={workdir}')
        try:
            out = tuple(self.playbook('peer,', 1, f'{name} {label}', playbook=str(PEER_PLAYBOOK), extra=extra)
                        for label in ('converge', 'rerun'))
            if out[1]['changed']:
                print(f'  WARNING: {name} peer rerun reported changed={out[1]["changed"]}', flush=True)
        finally:
            self.cleanup(made)
            self.cleanup_errors.extend(self.lab.remove_security_group(f'{release}-lb'))
        return out

    def floor(self, name: str) -> tuple[dict, dict]:
        release = f'bench-{uuid.uuid4().hex[:8]}'
        made = [('lab', release, release, None)]
        self.live[f'lab/{release}'] = made[0]
        out = []
        try:
            for label in ('converge', 'rerun'):
                load = os.getloadavg()[0]
                proc = measure(['bash', str(FLOOR_SCRIPT), release, release, self.env['KUBECONFIG']], self.env)
                if proc['returncode'] != 0:
                    raise BenchError(f'{name} {label}: {FLOOR_SCRIPT.name} failed (rc={proc["returncode"]}): '
                                     f'{proc["stderr"][-1500:]}')
                out.append({'seconds': proc['seconds'], 'cpu_seconds': proc['cpu_seconds'],
                            'max_rss_mib': proc['max_rss_mib'], 'load1': round(load, 2),
                            'tasks': {'steps': 4}, 'label': label})
        finally:
            self.cleanup(made)
        return out[0], out[1]

    def execute(self) -> dict:
        args = self.args
        runs = 1 if args.quick else args.runs
        sizes = tuple(args.fleets) if args.fleets else (QUICK_FLEET_SIZES if args.quick else FLEET_SIZES)
        facts = machine_facts()
        started = dt.datetime.now(dt.timezone.utc)
        doc = {
            'schema': 1, 'started_utc': started.isoformat(timespec='seconds'),
            'options': {'runs': runs, 'quick': args.quick, 'fleet_sizes': list(sizes),
                        'playbook': 'site.yml', 'inventory': 'inventories/lab group_vars, one host per cluster',
                        'peer': 'bench/peer.yml',
                        'chart_cache': 'warm (.lab/chart-cache kept between runs)'},
            'machine': facts,
            'versions': {
                'ansible': tool_version([str(VENV_BIN / 'ansible'), '--version'], self.env),
                'helm': tool_version([str(VENV_BIN / 'helm'), 'version', '--short'], self.env),
                'kubectl': tool_version([str(VENV_BIN / 'kubectl'), 'version', '--client'], self.env),
                'git': tool_version(['git', '--version'], self.env),
            },
            'raw': {'converge': [], 'noop': [], 'noop_modules': [], 'noop_no_preload': [], 'peer_converge': [],
                    'peer_noop': [],
                    'floor_converge': [], 'floor_rerun': [],
                    **{f'fleet{n}_{kind}': [] for n in sizes for kind in ('converge', 'noop')}},
        }
        print(f'bench: {runs} run(s), fleet sizes {list(sizes)}, nproc={facts["nproc"]}, '
              f'load average {" ".join(f"{x:.2f}" for x in facts["loadavg_start"])}', flush=True)
        fleet_names = [f'bench-{i}' for i in range(1, max(sizes) + 1)]
        print(f'bench: cluster-up {fleet_names[0]}..{fleet_names[-1]}', flush=True)
        self.lab.clusters_up(fleet_names)
        raw = doc['raw']
        for i in range(1, runs + 1):
            t0 = time.monotonic()
            # ours and the peer back to back, in alternating order, so machine noise falls on both alike
            if i % 2:
                converge, noop, noop_modules, noop_np = self.converge_and_noop(f'r{i}-single', ['lab'], True)
                pc, pn = self.peer(f'r{i}-peer')
            else:
                pc, pn = self.peer(f'r{i}-peer')
                converge, noop, noop_modules, noop_np = self.converge_and_noop(f'r{i}-single', ['lab'], True)
            for key, value in (('converge', converge), ('noop', noop), ('noop_modules', noop_modules),
                               ('noop_no_preload', noop_np),
                               ('peer_converge', pc), ('peer_noop', pn)):
                raw[key].append(value)
            fc, fr = self.floor(f'r{i}-floor')
            raw['floor_converge'].append(fc)
            raw['floor_rerun'].append(fr)
            line = (f'run {i}/{runs}: converge {fmt(converge["seconds"])} ({fmt(converge["cpu_seconds"], " cpu")}) '
                    f'no-op {fmt(noop["seconds"])} ({fmt(noop["cpu_seconds"], " cpu")}) '
                    f'peer {fmt(pc["seconds"])}/{fmt(pn["seconds"])} '
                    f'({fmt(pc["cpu_seconds"], " cpu")}/{fmt(pn["cpu_seconds"], " cpu")}) '
                    f'floor {fmt(fc["seconds"])}/{fmt(fr["seconds"])}')
            for n in sizes:
                fconv, fnoop = self.converge_and_noop(f'r{i}-fleet{n}', fleet_names[:n])
                raw[f'fleet{n}_converge'].append(fconv)
                raw[f'fleet{n}_noop'].append(fnoop)
                line += f' fleet-{n} {fmt(fconv["seconds"])}/{fmt(fnoop["seconds"])} ({fmt(fnoop["cpu_seconds"], " cpu")})'
            print(f'{line}  ({time.monotonic() - t0:.0f}s, load {os.getloadavg()[0]:.2f})', flush=True)
            if i < runs:
                partial = dict(doc, complete=False, runs_done=i)
                self.figures(partial, sizes)
                self.write(partial)
        doc['complete'] = True
        doc['finished_utc'] = dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')
        doc['machine']['loadavg_end'] = list(os.getloadavg())
        self.figures(doc, sizes)
        return doc

    @staticmethod
    def figures(doc: dict, sizes) -> None:
        raw = doc['raw']
        secs = {k: [r['seconds'] for r in v] for k, v in raw.items()}
        doc['medians'] = {k: summarize(v) for k, v in secs.items() if v}
        doc['cpu_seconds'] = {k: summarize([r['cpu_seconds'] for r in v if 'cpu_seconds' in r]) for k, v in raw.items()
                              if any('cpu_seconds' in r for r in v)}
        doc['max_rss_mib'] = {k: summarize([r['max_rss_mib'] for r in v if 'max_rss_mib' in r]) for k, v in raw.items()
                              if any('max_rss_mib' in r for r in v)}
        med = {k: v['median'] for k, v in doc['medians'].items()}
        cpu = {k: v['median'] for k, v in doc['cpu_seconds'].items()}
        mem = {k: v['max'] for k, v in doc['max_rss_mib'].items()}
        big = max(sizes)
        ours_mem = max([m for k, m in mem.items() if k in ('converge', 'noop') and m is not None], default=None)
        peer_mem = max([m for k, m in mem.items() if k in ('peer_converge', 'peer_noop') and m is not None], default=None)
        doc['ratios'] = {
            'noop_over_peer_noop_cpu': ratio(cpu.get('noop'), cpu.get('peer_noop')),
            'converge_over_peer_converge_cpu': ratio(cpu.get('converge'), cpu.get('peer_converge')),
            'noop_over_peer_noop': ratio(med.get('noop'), med.get('peer_noop')),
            'converge_over_peer_converge': ratio(med.get('converge'), med.get('peer_converge')),
            'peak_memory_over_peer': ratio(ours_mem, peer_mem),
            'noop_over_noop_modules_cpu': ratio(cpu.get('noop'), cpu.get('noop_modules')),
            'noop_no_preload_over_peer_noop_cpu': ratio(cpu.get('noop_no_preload'), cpu.get('peer_noop')),
            'noop_no_preload_memory_over_peer': ratio(mem.get('noop_no_preload'), peer_mem),
            'converge_over_floor': ratio(med.get('converge'), med.get('floor_converge')),
            'noop_over_floor_rerun': ratio(med.get('noop'), med.get('floor_rerun')),
            'noop_over_converge': ratio(med.get('noop'), med.get('converge')),
            f'fleet{big}_over_fleet1_noop': ratio(med.get(f'fleet{big}_noop'), med.get('fleet1_noop')),
            f'fleet{big}_over_fleet1_converge': ratio(med.get(f'fleet{big}_converge'), med.get('fleet1_converge')),
            f'fleet{big}_noop_cpu_per_cluster': ratio(cpu.get(f'fleet{big}_noop'), big),
        }
        pairs = {'noop_over_peer_noop_cpu': ('noop', 'peer_noop', 'cpu_seconds'),
                 'converge_over_peer_converge_cpu': ('converge', 'peer_converge', 'cpu_seconds'),
                 'noop_over_peer_noop': ('noop', 'peer_noop', 'seconds'),
                 'converge_over_floor': ('converge', 'floor_converge', 'seconds'),
                 f'fleet{big}_over_fleet1_noop': (f'fleet{big}_noop', 'fleet1_noop', 'seconds')}
        doc['ratios_per_run'] = {
            key: [round(ratio(a.get(field), b.get(field)) or 0, 3) for a, b in zip(raw.get(x, []), raw.get(y, []))]
            for key, (x, y, field) in pairs.items()}
        doc['ratios'] = {k: (round(v, 3) if v is not None else None) for k, v in doc['ratios'].items()}
        doc['tasks'] = {k: (v[0]['tasks'] if v else None) for k, v in raw.items()}
        doc['changed_on_noop'] = {k: [r['changed'] for r in v] for k, v in raw.items() if k.endswith('noop')}
        doc['noop_breakdown'] = merge_breakdowns([r['timings'] for r in raw['noop']])
        doc['converge_breakdown'] = merge_breakdowns([r['timings'] for r in raw['converge']])
        if raw.get('peer_noop'):
            doc['peer_noop_breakdown'] = merge_breakdowns([r['timings'] for r in raw['peer_noop']])
        ratios = doc['ratios']

        def target(value, limit, note=''):
            return {'target': limit, 'value': value, 'met': value is not None and value <= limit, 'note': note}

        nproc = (doc.get('machine') or {}).get('nproc')
        fleet_cpu = cpu.get(f'fleet{big}_noop')
        doc['scaling'] = {
            'fleet': big, 'nproc': nproc, f'fleet{big}_noop_cpu_seconds': fleet_cpu,
            'fleet1_noop_seconds': med.get('fleet1_noop'),
            # CPU-bound: N no-op runs cannot take less wall time than their CPU-seconds over the cores
            'min_wall_seconds_by_cores': {str(c): round(fleet_cpu / c, 2) for c in (1, 2, 4, 8)} if fleet_cpu else {},
        }
        quick = '' if big == 10 else f'fleet-{big} stands in for fleet-10'
        doc['targets'] = {
            'noop_vs_peer_cpu': target(ratios['noop_over_peer_noop_cpu'], TARGET_PEER_RATIO),
            'converge_vs_peer_cpu': target(ratios['converge_over_peer_converge_cpu'], TARGET_PEER_RATIO),
            'peak_memory_vs_peer': target(ratios['peak_memory_over_peer'], TARGET_MEMORY_RATIO),
            f'fleet{big}_under_3x_fleet1': target(ratios[f'fleet{big}_over_fleet1_noop'], TARGET_FLEET_RATIO, quick),
            'fleet_noop_cpu_per_cluster_halved': target(ratios[f'fleet{big}_noop_cpu_per_cluster'],
                                                        round(BASELINE_FLEET_NOOP_CPU_PER_CLUSTER / 2, 2),
                                                        f'before: {BASELINE_FLEET_NOOP_CPU_PER_CLUSTER} CPU-s per cluster'),
        }

    def write(self, doc: dict) -> Path:
        """bench-<UTC start>.json and latest.json (rewritten after each run, so an interrupted bench keeps its data)."""
        self.args.output_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(doc, indent=2, sort_keys=False) + '\n'
        self.result_path.write_text(text)
        (self.args.output_dir / 'latest.json').write_text(text)
        return self.result_path

    def leftovers(self) -> None:
        if self.live:
            self.cleanup(list(self.live.values()))
        try:
            self.lab.clusters_down()
        except BenchError as exc:
            self.cleanup_errors.append(str(exc))
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------
# Output


def report(doc: dict) -> str:
    med = doc['medians']
    tasks = doc['tasks']

    def task_n(key: str) -> str:
        t = tasks.get(key)
        if not t:
            return '-'
        if 'steps' in t:
            return f'{t["steps"]} steps'
        return f"{t.get('results', '-')} ({t.get('changed', 0)} changed)"

    lines = [f'\nmedians of {doc["options"]["runs"]} run(s); nproc={doc["machine"]["nproc"]}, load average at start '
             f'{" ".join(f"{x:.2f}" for x in doc["machine"]["loadavg_start"])}',
             f'{"figure":<22}{"median":>10}{"min":>10}{"max":>10}{"CPU-s":>10}{"peak MiB":>10}   tasks executed']
    cpu, mem = doc.get('cpu_seconds') or {}, doc.get('max_rss_mib') or {}
    for key in med:
        m = med[key]
        lines.append(f'{key:<22}{fmt(m["median"]):>10}{fmt(m["min"]):>10}{fmt(m["max"]):>10}'
                     f'{fmt((cpu.get(key) or {}).get("median"), ""):>10}{fmt((mem.get(key) or {}).get("max"), ""):>10}'
                     f'   {task_n(key)}')
    lines.append('ratios: ' + ', '.join(f'{k} {fmt(v, "")}' for k, v in doc['ratios'].items()))
    for name, target in doc['targets'].items():
        lines.append(f'target {name}: {fmt(target["value"], "")} (<= {target["target"]}) -> '
                     f'{"met" if target["met"] else "NOT met"}{" (" + target["note"] + ")" if target.get("note") else ""}')
    bd = doc['noop_breakdown']
    if bd.get('tasks'):
        lines.append(f'\nno-op breakdown (median s): startup {bd["startup"]:.2f}, tasks {bd["tasks_total"]:.2f}, '
                     f'between tasks {bd["gaps_total"]:.2f}, after last task {bd["teardown"]:.2f}')
        for row in sorted(bd['tasks'], key=lambda r: -r['seconds'])[:15]:
            lines.append(f'  {row["seconds"]:6.2f}  {row["action"]:<40} {row["task"][:70]}')
    return '\n'.join(lines)


def markdown(doc: dict) -> str:
    """The results table and the no-op breakdown as Markdown (for docs/benchmark.md)."""
    med, tasks = doc['medians'], doc['tasks']
    cpu, mem = doc.get('cpu_seconds') or {}, doc.get('max_rss_mib') or {}
    lines = ['| figure | CPU-s (median) | wall (median) | wall min | wall max | wall runs | peak MiB | tasks executed |',
             '|---|---:|---:|---:|---:|---|---:|---|']
    for key, m in med.items():
        t = tasks.get(key) or {}
        n = f'{t["steps"]} shell steps' if 'steps' in t else f'{t.get("results", "-")} ({t.get("changed", 0)} changed)'
        lines.append(f'| {key} | {fmt((cpu.get(key) or {}).get("median"), "")} | {fmt(m["median"])} | {fmt(m["min"])} | '
                     f'{fmt(m["max"])} | {", ".join(f"{x:.1f}" for x in m["runs"])} | '
                     f'{fmt((mem.get(key) or {}).get("max"), "")} | {n} |')
    lines.append('')
    lines.append('| ratio | value |')
    lines.append('|---|---:|')
    lines.extend(f'| {k} | {fmt(v, "")} |' for k, v in doc['ratios'].items())
    lines += ['', '| target | value | limit | met |', '|---|---:|---:|---|']
    lines.extend(f'| {k} | {fmt(t["value"], "")} | {t["target"]} | {"yes" if t["met"] else "**no**"} |'
                 for k, t in doc.get('targets', {}).items())
    bd = doc.get('noop_breakdown') or {}
    if bd.get('tasks'):
        lines += ['', f'No-op breakdown (median of {len(doc["raw"]["noop"])} run(s), seconds): startup {bd["startup"]:.2f}, '
                  f'tasks {bd["tasks_total"]:.2f}, between tasks {bd["gaps_total"]:.2f}, after the last task '
                  f'{bd["teardown"]:.2f}.', '', '| s | status | module / action | task |', '|---:|---|---|---|']
        lines.extend(f'| {r["seconds"]:.2f} | {r.get("status", "")} | `{r["action"]}` | {r["task"]} |' for r in bd['tasks'])
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=5, help='runs per figure (default 5)')
    parser.add_argument('--quick', action='store_true', help='smoke use: 1 run, fleet 1 and 3 only')
    parser.add_argument('--fleets', type=lambda v: sorted({int(x) for x in v.split(',') if x.strip()} | {1}),
                        metavar='N,N', help='fleet sizes (default 1,3,10; 1 is always added)')
    parser.add_argument('--output-dir', type=Path, default=RESULTS_DIR)
    parser.add_argument('--report', type=Path, metavar='JSON',
                        help='print the figures of an earlier result file (text and Markdown) and exit')
    args = parser.parse_args(argv)
    if args.report:
        doc = json.loads(args.report.read_text())
        doc['raw'] = {k: v for k, v in doc['raw'].items() if v}
        Bench.figures(doc, doc['options']['fleet_sizes'])     # recomputed from the raw timings
        print(report(doc))
        print()
        print(markdown(doc))
        return 0
    if args.runs < 1:
        parser.error('--runs must be at least 1')
    bench = Bench(args)

    def _terminate(signum, frame):
        raise KeyboardInterrupt(f'signal {signum}')

    signal.signal(signal.SIGTERM, _terminate)
    try:
        doc = bench.execute()
    except (BenchError, subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
        print(f'bench: FAILED: {exc}', file=sys.stderr)
        return 1
    finally:
        bench.leftovers()
        if bench.cleanup_errors:
            print('bench: cleanup problems:\n  ' + '\n  '.join(bench.cleanup_errors), file=sys.stderr)
    doc['cleanup_errors'] = bench.cleanup_errors
    path = bench.write(doc)
    print(report(doc))
    print(f'\nwrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} and latest.json')
    return 0


if __name__ == '__main__':
    sys.exit(main())
