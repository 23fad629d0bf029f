"""The runbook's "Network Configuration" and "Required Permissions" roles against moto, the Kubernetes API emulator
and a TLS-only redis-server.

Backends: the lab's (AWS_URL, KUBECONFIG, PORTKEY_LAB_REDIS_*) when its env is loaded; otherwise this module starts
its own moto server, emulator and redis-server on 127.0.0.1 with lab.services' launchers (so it also runs before
`make lab-up`). Playbooks run through lab.runner.
Every test uses its own names (random suffix), so it never sees another test's objects.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
import yaml

boto3 = pytest.importorskip('boto3')
kubernetes = pytest.importorskip('kubernetes')
from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402

from conftest import PORTKEY_PRINCIPAL, endpoint_services  # noqa: E402
from lab import runner, services  # noqa: E402 (conftest puts the checkout on sys.path)

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / '.venv' / 'bin'
PLAYBOOKS = ROOT / 'tests' / 'integration' / 'playbooks' / 'aws'
REGION = 'us-east-1'
CONTROL_PLANE = '44.221.117.129/32'


# ----------------------------------------------------------------------------------------------------------------
# backends


class Backends:
    """The lab's services, or this module's own copies (lab.services' launchers) when the lab is not up."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.started: list[services.Started] = []
        self.env: dict[str, str] = {}

    def _add(self, started: services.Started) -> None:
        self.started.append(started)
        self.env.update(started.env)

    def start_moto(self):
        self._add(services.start_moto(self.tmp))

    def start_apiserver(self):
        self._add(services.start_apiserver(self.tmp / 'apiserver', token='lab'))

    def start_redis(self):
        if shutil.which('redis-server') and shutil.which('openssl'):
            self._add(services.start_redis(self.tmp / 'redis', 'it-' + uuid.uuid4().hex))

    def stop(self):
        for started in self.started:
            started.stop()


@pytest.fixture(scope='module')
def backends(tmp_path_factory):
    b = Backends(tmp_path_factory.mktemp('aws-roles'))
    try:
        if os.environ.get('AWS_URL'):
            b.env['AWS_URL'] = b.env['AWS_ENDPOINT_URL'] = os.environ['AWS_URL']
        else:
            b.start_moto()
        if os.environ.get('KUBECONFIG') and os.environ.get('PORTKEY_LAB_API_URL'):
            b.env['KUBECONFIG'] = b.env['K8S_AUTH_KUBECONFIG'] = os.environ['KUBECONFIG']
        else:
            b.start_apiserver()
        if os.environ.get('PORTKEY_LAB_REDIS_PORT'):
            for var in ('HOST', 'PORT', 'CA', 'PASSWORD'):
                b.env[f'PORTKEY_LAB_REDIS_{var}'] = os.environ[f'PORTKEY_LAB_REDIS_{var}']
        else:
            b.start_redis()
        b.env.update(AWS_ACCESS_KEY_ID='testing', AWS_SECRET_ACCESS_KEY='testing', AWS_DEFAULT_REGION=REGION,
                     AWS_REGION=REGION)
        yield b
    finally:
        b.stop()


@pytest.fixture(scope='module')
def aws(backends):
    kw = dict(region_name=REGION, endpoint_url=backends.env['AWS_URL'], aws_access_key_id='testing',
              aws_secret_access_key='testing')
    return {name: boto3.client(name, **kw) for name in ('ec2', 'elbv2', 'elb', 'iam', 's3', 'sts')}


@pytest.fixture(scope='module')
def core(backends):
    return k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=backends.env['KUBECONFIG']))


@pytest.fixture(scope='module')
def networking(backends):
    return k8s.NetworkingV1Api(k8s_config.new_client_from_config(config_file=backends.env['KUBECONFIG']))


# ----------------------------------------------------------------------------------------------------------------
# running playbooks


class Run:
    def __init__(self, run: runner.PlaybookRun):
        self.rc, self.stdout, self.stderr, self.seconds = run.rc, run.stdout, run.stderr, run.ended - run.started
        counts = next(iter(run.recap.values()), None)
        self.changed = counts['changed'] if counts else None
        self.failed = counts['failed'] if counts else None

    @property
    def output(self):
        return self.stdout + self.stderr

    def fact(self):
        """The role's output fact, from the playbook's last debug task."""
        idx = self.stdout.rfind('TASK [Report the role\'s output fact]')
        assert idx >= 0, self.output[-3000:]
        start = self.stdout.index('{', self.stdout.index('=>', idx))
        obj, _end = json.JSONDecoder().raw_decode(self.stdout[start:])
        return obj['msg']['fact']

    def __repr__(self):
        errors = [line for line in self.output.splitlines() if 'fatal:' in line or '[ERROR]' in line
                  or 'changed:' in line]
        return f'<Run rc={self.rc} changed={self.changed}>\n' + '\n'.join(errors)


def playbook(backends, name: str, extra: dict, check=False, diff=False) -> Run:
    vars_file = backends.tmp / f'vars-{uuid.uuid4().hex[:8]}.json'
    extra = dict(extra, ansible_python_interpreter=str(VENV_BIN / 'python'))
    vars_file.write_text(json.dumps(extra))
    base = {k: v for k, v in os.environ.items() if k not in ('AWS_PROFILE', 'AWS_SESSION_TOKEN')}
    args = ['-e', f'@{vars_file}', *(['--check'] if check else []), *(['--diff'] if diff else [])]
    return Run(runner.run_playbook(PLAYBOOKS / name, 'localhost,', *args, base=base, timeout=240,
                                   env={**backends.env, 'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json',
                                        'ANSIBLE_DEPRECATION_WARNINGS': '0'}))


def role(backends, role_name, fact, check=False, diff=False, **role_vars) -> Run:
    return playbook(backends, 'role.yml', dict(role_vars, test_role=role_name, test_fact=fact), check=check, diff=diff)


def ok(run: Run, changed: int | None = None):
    assert run.rc == 0 and run.failed == 0, run
    if changed is not None:
        assert run.changed == changed, run
    return run


def suffix() -> str:
    return uuid.uuid4().hex[:6]


# ----------------------------------------------------------------------------------------------------------------
# AWS fixtures


def make_vpc(ec2, cidr='10.0.0.0/16'):
    vpc = ec2.create_vpc(CidrBlock=cidr)['Vpc']['VpcId']
    base = cidr.split('.')[0] + '.' + cidr.split('.')[1]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f'{base}.{i}.0/24', AvailabilityZone=f'{REGION}{z}')
               ['Subnet']['SubnetId'] for i, z in ((1, 'a'), (2, 'b'))]
    return vpc, subnets


def make_sg(ec2, vpc, name):
    return ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)['GroupId']


def sg_rules(ec2, sg):
    perms = ec2.describe_security_groups(GroupIds=[sg])['SecurityGroups'][0]['IpPermissions']
    out = set()
    for p in perms:
        for r in p.get('IpRanges', []):
            out.add((p.get('FromPort'), r['CidrIp'], r.get('Description', '')))
        for r in p.get('UserIdGroupPairs', []):
            out.add((p.get('FromPort'), r['GroupId'], r.get('Description', '')))
        for r in p.get('PrefixListIds', []):
            out.add((p.get('FromPort'), r['PrefixListId'], r.get('Description', '')))
    return out


def aws_state(aws):
    """Everything the roles could create or change in moto (check mode must leave it identical)."""
    ec2 = aws['ec2']
    groups = {g['GroupId']: sorted(json.dumps(p, sort_keys=True) for p in g['IpPermissions'])
              for g in ec2.describe_security_groups()['SecurityGroups']}
    tables = {t['RouteTableId']: sorted(json.dumps(r, sort_keys=True, default=str) for r in t['Routes'])
              for t in ec2.describe_route_tables()['RouteTables']}
    peerings = sorted((p['VpcPeeringConnectionId'], p['Status']['Code'])
                      for p in ec2.describe_vpc_peering_connections()['VpcPeeringConnections'])
    buckets = sorted(b['Name'] for b in aws['s3'].list_buckets().get('Buckets', []))
    policies = sorted(p['Arn'] for p in aws['iam'].list_policies(Scope='Local')['Policies'])
    roles = sorted(r['RoleName'] for r in aws['iam'].list_roles()['Roles'])
    return dict(groups=groups, tables=tables, peerings=peerings, buckets=buckets, policies=policies, roles=roles)


def gateway_service(core, namespace, release, name=None, port=8787):
    name = name or release
    try:
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    except k8s.exceptions.ApiException as exc:
        if exc.status != 409:
            raise
    core.create_namespaced_service(namespace, {
        'apiVersion': 'v1', 'kind': 'Service',
        'metadata': {'name': name, 'labels': {'app.kubernetes.io/instance': release,
                                              'app.kubernetes.io/name': 'gateway'}},
        'spec': {'type': 'LoadBalancer', 'ports': [{'name': 'gateway', 'port': port, 'targetPort': 'gateway'}],
                 'selector': {'app.kubernetes.io/instance': release}}})
    return name


def set_lb_hostname(core, namespace, name, hostname):
    """Play the cloud controller: publish the load balancer's DNS name in the Service status."""
    core.patch_namespaced_service_status(name, namespace,
                                         {'status': {'loadBalancer': {'ingress': [{'hostname': hostname}]}}},
                                         _content_type='application/merge-patch+json')


# ----------------------------------------------------------------------------------------------------------------
# network_policy


def test_network_policy_modes_and_absent(backends, core, networking):
    ns = f'np-{suffix()}'
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
    base = dict(network_policy_namespace=ns, network_policy_restricted_name='pk-egress')

    ok(role(backends, 'network_policy', 'network_policy_result', **base), changed=1)
    pol = networking.read_namespaced_network_policy('allow-all-egress', ns).to_dict()['spec']
    assert pol['pod_selector'] in ({}, {'match_expressions': None, 'match_labels': None})
    assert pol['policy_types'] == ['Egress']
    assert [[p['ip_block']['cidr'] for p in rule['to']] for rule in pol['egress']] == [['0.0.0.0/0']]
    ok(role(backends, 'network_policy', 'network_policy_result', **base), changed=0)

    restricted = dict(base, network_policy_mode='restricted', network_policy_redis_cidrs=['10.0.5.0/24'],
                      network_policy_mongo_cidrs=['10.0.6.0/24'], network_policy_https_cidrs=['0.0.0.0/0'])
    run = ok(role(backends, 'network_policy', 'network_policy_result', **restricted), changed=2)
    assert run.fact() == {'state': 'present', 'mode': 'restricted', 'namespace': ns, 'name': 'pk-egress',
                          'removed': ['allow-all-egress'], 'changed': True}
    names = [p.metadata.name for p in networking.list_namespaced_network_policy(ns).items]
    assert names == ['pk-egress']
    egress = networking.read_namespaced_network_policy('pk-egress', ns).to_dict()['spec']['egress']
    dns = egress[0]
    assert dns['to'][0]['namespace_selector']['match_labels'] == {'kubernetes.io/metadata.name': 'kube-system'}
    assert dns['to'][0]['pod_selector']['match_labels'] == {'k8s-app': 'kube-dns'}
    assert sorted((p['protocol'], p['port']) for p in dns['ports']) == [('TCP', 53), ('UDP', 53)]
    assert egress[1]['to'][0]['pod_selector'] in ({}, {'match_expressions': None, 'match_labels': None})
    ports = [(r['to'][0]['ip_block']['cidr'], r['ports'][0]['port']) for r in egress[2:]]
    assert ports == [('0.0.0.0/0', 443), ('10.0.5.0/24', 6379), ('10.0.6.0/24', 27017)]
    ok(role(backends, 'network_policy', 'network_policy_result', **restricted), changed=0)

    run = ok(role(backends, 'network_policy', 'network_policy_result', network_policy_state='absent', **base),
             changed=1)
    assert networking.list_namespaced_network_policy(ns).items == []
    ok(role(backends, 'network_policy', 'network_policy_result', network_policy_state='absent', **base), changed=0)


def test_network_policy_rejects_bad_cidr(backends):
    run = role(backends, 'network_policy', 'network_policy_result', network_policy_mode='restricted',
               network_policy_redis_cidrs=['10.0.0.0'])
    assert run.rc != 0 and "portkey_network_policy.redis_cidrs: '10.0.0.0' is not a valid CIDR" in run.output


# ----------------------------------------------------------------------------------------------------------------
# lb_security_group


@pytest.fixture(scope='module')
def lb_vpc(aws):
    return make_vpc(aws['ec2'], '10.40.0.0/16')


def _alb(aws, vpc, subnets, name):
    sg = make_sg(aws['ec2'], vpc, f'{name}-sg')
    lb = aws['elbv2'].create_load_balancer(Name=name, Subnets=subnets, SecurityGroups=[sg], Type='application')
    return lb['LoadBalancers'][0]['DNSName'], sg


def _nlb(aws, vpc, subnets, name, with_sg=True):
    sg = make_sg(aws['ec2'], vpc, f'{name}-sg') if with_sg else None
    kw = dict(SecurityGroups=[sg]) if sg else {}
    lb = aws['elbv2'].create_load_balancer(Name=name, Subnets=subnets, Type='network', **kw)
    return lb['LoadBalancers'][0]['DNSName'], sg


def _clb(aws, vpc, subnets, name):
    sg = make_sg(aws['ec2'], vpc, f'{name}-sg')
    lb = aws['elb'].create_load_balancer(LoadBalancerName=name, Subnets=subnets, SecurityGroups=[sg],
                                         Listeners=[{'Protocol': 'TCP', 'LoadBalancerPort': 8787,
                                                     'InstanceProtocol': 'TCP', 'InstancePort': 30087}])
    return lb['DNSName'], sg


def test_lb_security_group_alb_check_apply_idempotent_purge(backends, aws, core, lb_vpc):
    vpc, subnets = lb_vpc
    rel, ns = f'pk-{suffix()}', f'lb-{suffix()}'
    dns, sg = _alb(aws, vpc, subnets, f'alb-{suffix()}')
    svc = gateway_service(core, ns, rel)
    set_lb_hostname(core, ns, svc, dns)
    # someone else's rule on the same port must survive everything
    aws['ec2'].authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
        'IpProtocol': 'tcp', 'FromPort': 8787, 'ToPort': 8787,
        'IpRanges': [{'CidrIp': '192.0.2.0/24', 'Description': 'foreign'}]}])
    desc = f'portkey_ai.gateway:{rel}'
    base = dict(lb_security_group_release_name=rel, lb_security_group_namespace=ns,
                lb_security_group_cidrs=[CONTROL_PLANE, '198.51.100.0/24'])

    before = aws_state(aws)
    run = ok(role(backends, 'lb_security_group', 'lb_security_group_result', check=True, diff=True, **base),
             changed=1)
    assert aws_state(aws) == before
    assert run.fact()['load_balancer']['type'] == 'application'

    run = ok(role(backends, 'lb_security_group', 'lb_security_group_result', **base), changed=1)
    fact = run.fact()
    assert fact['load_balancer']['dns_name'] == dns and fact['security_group_ids'] == [sg] and fact['port'] == 8787
    assert sg_rules(aws['ec2'], sg) == {(8787, '192.0.2.0/24', 'foreign'), (8787, CONTROL_PLANE, desc),
                                        (8787, '198.51.100.0/24', desc)}
    ok(role(backends, 'lb_security_group', 'lb_security_group_result', **base), changed=0)

    # someone opens the gateway port to the world: refused before any change without the opt-in
    aws['ec2'].authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {'IpProtocol': 'tcp', 'FromPort': 8787, 'ToPort': 8787,
         'IpRanges': [{'CidrIp': '0.0.0.0/0', 'Description': 'world'}]},
        {'IpProtocol': 'tcp', 'FromPort': 443, 'ToPort': 443,
         'IpRanges': [{'CidrIp': '0.0.0.0/0', 'Description': 'other port'}]}])
    narrowed = {**base, 'lb_security_group_cidrs': [CONTROL_PLANE]}
    before = aws_state(aws)
    run = role(backends, 'lb_security_group', 'lb_security_group_result', **narrowed)
    assert run.rc != 0 and 'portkey_lb_security_group.purge: true' in run.output, run
    assert 'portkey_lb_security_group.allow_world: true' in run.output
    assert aws_state(aws) == before

    # purge (exclusive): the port is reachable only from the allowed CIDRs; other ports are left alone
    purge = {**narrowed, 'lb_security_group_purge': True}
    run = ok(role(backends, 'lb_security_group', 'lb_security_group_result', **purge), changed=1)
    assert sorted(r['source'] for r in run.fact()['rules_removed']) == ['0.0.0.0/0', '192.0.2.0/24', '198.51.100.0/24']
    assert sg_rules(aws['ec2'], sg) == {(8787, CONTROL_PLANE, desc), (443, '0.0.0.0/0', 'other port')}
    ok(role(backends, 'lb_security_group', 'lb_security_group_result', **purge), changed=0)

    # absent (uninstall) removes only ours
    ok(role(backends, 'lb_security_group', 'lb_security_group_result', lb_security_group_state='absent', **base),
       changed=1)
    assert sg_rules(aws['ec2'], sg) == {(443, '0.0.0.0/0', 'other port')}


@pytest.mark.parametrize('kind', ['nlb', 'clb'])
def test_lb_security_group_nlb_and_classic(backends, aws, core, lb_vpc, kind):
    vpc, subnets = lb_vpc
    rel, ns = f'pk-{suffix()}', f'lb-{suffix()}'
    dns, sg = (_nlb if kind == 'nlb' else _clb)(aws, vpc, subnets, f'{kind}-{suffix()}')
    svc = gateway_service(core, ns, rel, name=f'{rel}-gateway')
    set_lb_hostname(core, ns, svc, dns)
    base = dict(lb_security_group_release_name=rel, lb_security_group_namespace=ns,
                lb_security_group_source_security_group_ids=[make_sg(aws['ec2'], vpc, f'src-{suffix()}')])
    run = ok(role(backends, 'lb_security_group', 'lb_security_group_result', **base), changed=1)
    fact = run.fact()
    assert fact['load_balancer']['type'] == {'nlb': 'network', 'clb': 'classic'}[kind]
    assert fact['service'] == {'name': svc, 'namespace': ns, 'hostname': dns, 'port': 8787}
    desc = f'portkey_ai.gateway:{rel}'
    assert sg_rules(aws['ec2'], sg) == {(8787, CONTROL_PLANE, desc),
                                        (8787, base['lb_security_group_source_security_group_ids'][0], desc)}
    ok(role(backends, 'lb_security_group', 'lb_security_group_result', **base), changed=0)


def test_lb_security_group_nlb_without_groups_suggests_source_ranges(backends, aws, core, lb_vpc):
    vpc, subnets = lb_vpc
    rel, ns = f'pk-{suffix()}', f'lb-{suffix()}'
    dns, _sg = _nlb(aws, vpc, subnets, f'nlb-{suffix()}', with_sg=False)
    svc = gateway_service(core, ns, rel)
    set_lb_hostname(core, ns, svc, dns)
    run = ok(role(backends, 'lb_security_group', 'lb_security_group_result', lb_security_group_release_name=rel,
                  lb_security_group_namespace=ns), changed=0)
    fact = run.fact()
    assert fact['source_ranges_suggestion'] == [CONTROL_PLANE] and fact['security_group_ids'] == []
    assert 'loadBalancerSourceRanges' in run.output


def test_lb_security_group_refuses_world_and_unknown_hostname(backends, core):
    rel, ns = f'pk-{suffix()}', f'lb-{suffix()}'
    gateway_service(core, ns, rel)
    run = role(backends, 'lb_security_group', 'lb_security_group_result', lb_security_group_release_name=rel,
               lb_security_group_namespace=ns, lb_security_group_cidrs=['0.0.0.0/0'])
    assert run.rc != 0 and 'portkey_lb_security_group.allow_world: true' in run.output
    # the emulator's own hostname (<name>.<ns>.elb.lab.local) matches no load balancer in moto
    run = role(backends, 'lb_security_group', 'lb_security_group_result', lb_security_group_release_name=rel,
               lb_security_group_namespace=ns, lb_security_group_wait_timeout=1, lb_security_group_wait_interval=1)
    assert run.rc != 0 and f'no ELBv2 or classic load balancer with DNS name {rel}.{ns}.elb.lab.local' in run.output


# ----------------------------------------------------------------------------------------------------------------
# private_link (the lab's Service gets no NLB: moto's internal NLB plays the one the controller would create)


def test_private_link_converge_rerun_principal_change_removal(backends, aws, core, lb_vpc):
    vpc, subnets = lb_vpc
    ec2 = aws['ec2']
    rel, ns = f'pk-{suffix()}', f'pl-{suffix()}'
    lb = aws['elbv2'].create_load_balancer(Name=f'nlb-{suffix()}', Subnets=subnets, Type='network',
                                           Scheme='internal')['LoadBalancers'][0]
    svc = gateway_service(core, ns, rel)
    set_lb_hostname(core, ns, svc, lb['DNSName'])
    # somebody else's endpoint service on the same NLB is never touched
    foreign = ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb['LoadBalancerArn']])['ServiceConfiguration']['ServiceId']
    owner = f'{ns}/{rel}'
    base = dict(private_link_release_name=rel, private_link_namespace=ns)

    before = aws_state(aws), len(endpoint_services(ec2, owner))
    run = ok(role(backends, 'private_link', 'private_link_result', check=True, diff=True, **base), changed=1)
    assert (aws_state(aws), len(endpoint_services(ec2, owner))) == before and run.fact()['created'] is True

    run = ok(role(backends, 'private_link', 'private_link_result', **base), changed=1)
    fact = run.fact()
    [config] = endpoint_services(ec2, owner)
    assert fact['service_name'] == config['ServiceName'] and fact['region'] == REGION and fact['port'] == 8787
    assert fact['load_balancer']['arn'] == lb['LoadBalancerArn'] and fact['load_balancer']['scheme'] == 'internal'
    assert config['AcceptanceRequired'] is True and config['NetworkLoadBalancerArns'] == [lb['LoadBalancerArn']]
    perms = ec2.describe_vpc_endpoint_service_permissions(ServiceId=config['ServiceId'])['AllowedPrincipals']
    assert [p['Principal'] for p in perms] == [PORTKEY_PRINCIPAL] == fact['allowed_principals']
    # moto has no DescribeVpcEndpointConnections: the role warns and reports the states as unknown
    assert fact['connections'] is None and 'DescribeVpcEndpointConnections' in run.output
    ok(role(backends, 'private_link', 'private_link_result', **base), changed=0)

    other = 'arn:aws:iam::123456789012:role/portkey-dr'
    changed = dict(base, private_link_allowed_principals=[other], private_link_acceptance_required=False)
    run = ok(role(backends, 'private_link', 'private_link_result', diff=True, **changed), changed=1)
    assert run.fact()['service_id'] == config['ServiceId']
    perms = ec2.describe_vpc_endpoint_service_permissions(ServiceId=config['ServiceId'])['AllowedPrincipals']
    assert [p['Principal'] for p in perms] == [other]
    assert endpoint_services(ec2, owner)[0]['AcceptanceRequired'] is False

    run = ok(role(backends, 'private_link', 'private_link_result', private_link_state='absent', **base), changed=1)
    assert run.fact()['removed'] == [config['ServiceName']] and endpoint_services(ec2, owner) == []
    ids = [c['ServiceId'] for c in ec2.describe_vpc_endpoint_service_configurations()['ServiceConfigurations']]
    assert foreign in ids


def test_private_link_refuses_missing_nlb(backends, aws, core):
    """(A bad principal is refused by preflight: the bad-input corpus and the unit tests.)"""
    rel, ns = f'pk-{suffix()}', f'pl-{suffix()}'
    gateway_service(core, ns, rel)
    before = aws_state(aws)
    # the emulator's hostname matches no load balancer: refused after the timeout, naming it
    run = role(backends, 'private_link', 'private_link_result', private_link_release_name=rel,
               private_link_namespace=ns, private_link_wait_timeout=1, private_link_wait_interval=1)
    assert run.rc != 0 and 'portkey_private_link.wait_timeout' in run.output, run
    assert aws_state(aws) == before


# ----------------------------------------------------------------------------------------------------------------
# log_store


def test_log_store_s3_assume(backends, aws):
    s = suffix()
    bucket, account = f'portkey-logs-{s}', aws['sts'].get_caller_identity()['Account']
    issuer = f'oidc.eks.{REGION}.amazonaws.com/id/{s.upper()}'
    provider = f'arn:aws:iam::{account}:oidc-provider/{issuer}'
    base = dict(log_store_type='s3_assume', log_store_bucket=bucket, log_store_release_name=f'pk-{s}',
                log_store_namespace='portkeyai', log_store_service_account_name='portkey-gateway',
                log_store_oidc_provider_arn=provider, log_store_region=REGION)

    before = aws_state(aws)
    ok(role(backends, 'log_store', 'log_store_result', check=True, **base))
    assert aws_state(aws) == before

    run = ok(role(backends, 'log_store', 'log_store_result', **base))
    assert run.changed >= 3
    role_arn = run.fact()['role_arn']
    assert role_arn == f'arn:aws:iam::{account}:role/pk-{s}-localhost-log-store'
    ok(role(backends, 'log_store', 'log_store_result', **base), changed=0)

    # the bucket: encrypted, public access blocked
    enc = aws['s3'].get_bucket_encryption(Bucket=bucket)['ServerSideEncryptionConfiguration']['Rules'][0]
    assert enc['ApplyServerSideEncryptionByDefault']['SSEAlgorithm'] == 'AES256'
    pab = aws['s3'].get_public_access_block(Bucket=bucket)['PublicAccessBlockConfiguration']
    assert all(pab.values()) and len(pab) == 4

    # the policy: exactly the runbook's four actions on the named bucket
    policy_arn = f'arn:aws:iam::{account}:policy/pk-{s}-localhost-log-store'
    version = aws['iam'].get_policy(PolicyArn=policy_arn)['Policy']['DefaultVersionId']
    doc = aws['iam'].get_policy_version(PolicyArn=policy_arn, VersionId=version)['PolicyVersion']['Document']
    doc = json.loads(doc) if isinstance(doc, str) else doc
    grants = sorted((a, r) for st in doc['Statement'] for a in st['Action'] for r in st['Resource'])
    assert all(st['Effect'] == 'Allow' for st in doc['Statement'])
    assert grants == sorted([('s3:ListBucket', f'arn:aws:s3:::{bucket}'),
                             ('s3:GetObject', f'arn:aws:s3:::{bucket}/*'),
                             ('s3:PutObject', f'arn:aws:s3:::{bucket}/*'),
                             ('s3:DeleteObject', f'arn:aws:s3:::{bucket}/*')])

    # the role: trusted by the OIDC provider for this service account only; the policy attached
    r = aws['iam'].get_role(RoleName=f'pk-{s}-localhost-log-store')['Role']
    trust = r['AssumeRolePolicyDocument']
    trust = json.loads(trust) if isinstance(trust, str) else trust
    (st,) = trust['Statement']
    assert st['Principal'] == {'Federated': provider}
    assert st['Action'] == 'sts:AssumeRoleWithWebIdentity'
    assert st['Condition'] == {'StringEquals': {f'{issuer}:sub': 'system:serviceaccount:portkeyai:portkey-gateway',
                                                f'{issuer}:aud': 'sts.amazonaws.com'}}
    attached = aws['iam'].list_attached_role_policies(RoleName=f'pk-{s}-localhost-log-store')['AttachedPolicies']
    assert [p['PolicyArn'] for p in attached] == [policy_arn]


def test_log_store_issuer_url_and_inputs(backends, aws):
    s = suffix()
    account = aws['sts'].get_caller_identity()['Account']
    run = ok(role(backends, 'log_store', 'log_store_result', log_store_type='s3_assume',
                  log_store_bucket=f'portkey-logs-{s}', log_store_release_name=f'pk-{s}', log_store_region=REGION,
                  log_store_oidc_issuer_url=f'https://oidc.eks.{REGION}.amazonaws.com/id/ABC{s}/'))
    trust = aws['iam'].get_role(RoleName=f'pk-{s}-localhost-log-store')['Role']['AssumeRolePolicyDocument']
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust['Statement'][0]['Principal']['Federated'] == \
        f'arn:aws:iam::{account}:oidc-provider/oidc.eks.{REGION}.amazonaws.com/id/ABC{s}'
    assert run.fact()['role_arn'].endswith(f':role/pk-{s}-localhost-log-store')
    # s3 (static keys): no role, empty fact
    run = ok(role(backends, 'log_store', 'log_store_result', log_store_type='s3',
                  log_store_bucket=f'portkey-logs-{s}', log_store_release_name=f'pk-{s}', log_store_region=REGION))
    assert run.fact()['role_arn'] == ''
    run = role(backends, 'log_store', 'log_store_result', log_store_type='s3_assume', log_store_bucket=f'b-{s}')
    assert run.rc != 0 and 'portkey_log_store_aws.oidc_provider_arn: mode s3_assume needs' in run.output


# ----------------------------------------------------------------------------------------------------------------
# vpc_peering


def test_vpc_peering_create_idempotent_teardown(backends, aws):
    ec2 = aws['ec2']
    s = suffix()
    vpc = make_vpc(ec2, '10.50.0.0/16')[0]
    peer_vpc = make_vpc(ec2, '10.99.0.0/16')[0]
    rtb = ec2.create_route_table(VpcId=vpc)['RouteTable']['RouteTableId']
    igw = ec2.create_internet_gateway()['InternetGateway']['InternetGatewayId']
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock='0.0.0.0/0', GatewayId=igw)  # pre-existing
    sg = make_sg(ec2, vpc, f'gw-{s}')
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
        'IpProtocol': 'tcp', 'FromPort': 22, 'ToPort': 22, 'IpRanges': [{'CidrIp': '10.0.0.0/8', 'Description': 'ssh'}]}])
    base = dict(vpc_peering_vpc_id=vpc, vpc_peering_peer_vpc_id=peer_vpc, vpc_peering_peer_cidr='10.99.0.0/16',
                vpc_peering_accept=True, vpc_peering_route_table_ids=[rtb], vpc_peering_security_group_ids=[sg],
                vpc_peering_release_name=f'pk-{s}', vpc_peering_port=8787, vpc_peering_region=REGION)

    def routes():
        table = ec2.describe_route_tables(RouteTableIds=[rtb])['RouteTables'][0]
        return sorted((r.get('DestinationCidrBlock'), r.get('GatewayId') or r.get('VpcPeeringConnectionId'))
                      for r in table['Routes'])

    before = aws_state(aws)
    ok(role(backends, 'vpc_peering', 'vpc_peering_result', check=True, **base))
    assert aws_state(aws) == before

    run = ok(role(backends, 'vpc_peering', 'vpc_peering_result', **base))
    pcx = run.fact()['connection_id']
    assert pcx.startswith('pcx-') and run.changed == 4  # request, accept, route, rule
    status = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])['VpcPeeringConnections'][0]
    assert status['Status']['Code'] == 'active'
    assert routes() == sorted([('0.0.0.0/0', igw), ('10.50.0.0/16', 'local'), ('10.99.0.0/16', pcx)])
    desc = f'portkey_ai.gateway:pk-{s}:vpc-peering'
    assert sg_rules(ec2, sg) == {(22, '10.0.0.0/8', 'ssh'), (8787, '10.99.0.0/16', desc)}

    ok(role(backends, 'vpc_peering', 'vpc_peering_result', **base), changed=0)

    run = ok(role(backends, 'vpc_peering', 'vpc_peering_result', vpc_peering_state='absent', **base),
             changed=3)
    assert run.fact()['connection_id'] == ''
    assert routes() == sorted([('0.0.0.0/0', igw), ('10.50.0.0/16', 'local')])
    assert sg_rules(ec2, sg) == {(22, '10.0.0.0/8', 'ssh')}
    status = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])['VpcPeeringConnections'][0]
    assert status['Status']['Code'] == 'deleted'
    ok(role(backends, 'vpc_peering', 'vpc_peering_result', vpc_peering_state='absent', **base), changed=0)


def test_vpc_peering_route_conflict_is_refused(backends, aws):
    ec2 = aws['ec2']
    vpc = make_vpc(ec2, '10.60.0.0/16')[0]
    peer_vpc = make_vpc(ec2, '10.98.0.0/16')[0]
    rtb = ec2.create_route_table(VpcId=vpc)['RouteTable']['RouteTableId']
    igw = ec2.create_internet_gateway()['InternetGateway']['InternetGatewayId']
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock='10.98.0.0/16', GatewayId=igw)
    try:
        run = role(backends, 'vpc_peering', 'vpc_peering_result', vpc_peering_vpc_id=vpc,
                   vpc_peering_peer_vpc_id=peer_vpc, vpc_peering_peer_cidr='10.98.0.0/16',
                   vpc_peering_route_table_ids=[rtb], vpc_peering_region=REGION)
        assert run.rc != 0 and 'refusing to replace existing routes' in run.output
        table = ec2.describe_route_tables(RouteTableIds=[rtb])['RouteTables'][0]
        assert ('10.98.0.0/16', igw) in [(r.get('DestinationCidrBlock'), r.get('GatewayId')) for r in table['Routes']]
    finally:
        # the request was made before the routes were refused: delete it, or the next peering in the lab's moto
        # (which ignores DescribeVpcPeeringConnections filters) would find and adopt it
        for pcx in ec2.describe_vpc_peering_connections()['VpcPeeringConnections']:
            if pcx['RequesterVpcInfo']['VpcId'] == vpc and pcx['Status']['Code'] not in ('deleted', 'rejected'):
                ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx['VpcPeeringConnectionId'])


# ----------------------------------------------------------------------------------------------------------------
# cache_check and mongodb_access


def test_cache_check_tls_mismatch(backends):
    if 'PORTKEY_LAB_REDIS_PORT' not in backends.env:
        pytest.skip('redis-server not available')
    env = backends.env
    run = playbook(backends, 'cache_check.yml', dict(redis_port=int(env['PORTKEY_LAB_REDIS_PORT']),
                                                     redis_password=env['PORTKEY_LAB_REDIS_PASSWORD'],
                                                     redis_ca=env['PORTKEY_LAB_REDIS_CA']))
    assert run.rc == 0 and run.changed == 0, run
    assert 'the server speaks TLS' in run.output
    assert env['PORTKEY_LAB_REDIS_PASSWORD'] not in run.output


def test_mongodb_access_inputs(backends):
    run = playbook(backends, 'mongodb_access.yml', dict(good_password='pw-' + uuid.uuid4().hex,
                                                        closed_port=services.pick_port()))
    assert run.rc == 0, run


def test_summary_shows_what_portkey_needs_for_private_link(tmp_path):
    """playbooks/summary.yml on its own, the role's result given as host vars: the line and the artifact."""
    link = {'service_name': 'com.amazonaws.vpce.us-east-1.vpce-svc-0abc', 'region': REGION, 'port': 8787,
            'connections': [{'vpc_endpoint_id': 'vpce-1', 'owner': '299329113195', 'state': 'pendingAcceptance'}]}
    hosts = {'c1': {'ansible_connection': 'local', 'ansible_python_interpreter': str(VENV_BIN / 'python'),
                    'rollout_result': {'status': 'healthy', 'msg': ''}, 'private_link_result': link},
             'c2': {'ansible_connection': 'local', 'ansible_python_interpreter': str(VENV_BIN / 'python'),
                    'rollout_result': {'status': 'healthy', 'msg': ''},
                    'private_link_result': dict(link, connections=None)}}
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text(yaml.safe_dump({'all': {'children': {'portkey_gateways': {'hosts': hosts}}}}))
    run = runner.run_playbook('playbooks/summary.yml', inventory, timeout=240, env={
        'ANSIBLE_STDOUT_CALLBACK': 'ansible.builtin.json', 'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1',
        'ANSIBLE_SHOW_CUSTOM_STATS': '1'})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = run.json
    summary = report['global_custom_stats']['portkey_summary']
    assert summary['c1']['private_link'] == link
    assert summary['c1']['line'].endswith('; PrivateLink com.amazonaws.vpce.us-east-1.vpce-svc-0abc (us-east-1, '
                                          'port 8787), connections: pendingAcceptance')
    assert summary['c2']['line'].endswith('connections: unknown')
