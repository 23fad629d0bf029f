"""site.yml on the PrivateLink path end to end (issue 16): `portkey_private_link.enabled: true` makes the gateway
Service an internal NLB (the AWS Load Balancer Controller's annotations), the private_link role finds that NLB and
puts a VPC endpoint service on it, the summary shows what Portkey needs, a rerun changes nothing and uninstall.yml
removes the endpoint service it created, and only it.

The emulated cluster (`labctl cluster-up` with PORTKEY_LAB_LB_HOSTNAME_FORMAT) names each LoadBalancer Service's load
balancer '<cluster>-<namespace>-1.<region>.elb.amazonaws.com', the DNS name moto gives an NLB named
'<cluster>-<namespace>': the test creates that internal NLB first, as the controller would. A second host in the same
run has no NLB behind its Service: it fails after portkey_private_link.wait_timeout, named in its summary, while the
first host converges. Three playbook runs in all.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import (PORTKEY_PRINCIPAL, STATS_ENV, Lab, aws_client, custom_stats_summary, endpoint_services, lab_vars,
                      labctl, run_playbook, write_inventory)

pytest.importorskip('boto3')

CLUSTER, REGION, PORT = 'pl-use1', 'us-east-1', 8787
LBC = 'service.beta.kubernetes.io/aws-load-balancer-'


@pytest.fixture
def cluster(lab) -> Lab:
    labctl('cluster-up', CLUSTER, env={
        'PORTKEY_LAB_LB_HOSTNAME_FORMAT': f'{CLUSTER}-{{namespace}}-1.{REGION}.elb.amazonaws.com'})
    try:
        yield Lab(str(Path(os.environ['PORTKEY_LAB_DIR']) / 'clusters' / CLUSTER / 'kubeconfig'))
    finally:
        labctl('cluster-down', CLUSTER)


def _internal_nlb(ec2, elbv2, name: str) -> str:
    """An internal NLB in a VPC of its own, as the controller makes for the annotated Service; returns its ARN."""
    vpc = ec2.create_vpc(CidrBlock='10.40.0.0/16')['Vpc']['VpcId']
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f'10.40.{i}.0/24', AvailabilityZone=f'{REGION}{zone}')
               ['Subnet']['SubnetId'] for i, zone in ((1, 'a'), (2, 'b'))]
    return elbv2.create_load_balancer(Name=name, Subnets=subnets, Type='network',
                                      Scheme='internal')['LoadBalancers'][0]['LoadBalancerArn']


def _gateway_service(cluster: Lab, namespace: str) -> dict:
    items = (cluster.get(f'/api/v1/namespaces/{namespace}/services') or {}).get('items', [])
    found = [s for s in items if s['spec']['type'] == 'LoadBalancer']
    assert len(found) == 1, [s['metadata']['name'] for s in items]
    return found[0]


def test_site_private_link_converge_rerun_uninstall(cluster, tmp_path):
    ec2, elbv2 = aws_client('ec2', REGION), aws_client('elbv2', REGION)
    common = dict(portkey_kubeconfig=cluster.kubeconfig, portkey_kube_context=CLUSTER, portkey_aws_region=REGION)
    link = lab_vars('1.7', **common, portkey_private_link={'enabled': True, 'wait_timeout': 30, 'wait_interval': 1})
    missing = lab_vars('1.7', **common, portkey_private_link={'enabled': True, 'wait_timeout': 1, 'wait_interval': 1})
    namespace = link['portkey_namespace']
    owner = f"{namespace}/{link['portkey_release_name']}"
    missing_owner = f"{missing['portkey_namespace']}/{missing['portkey_release_name']}"
    nlb = _internal_nlb(ec2, elbv2, f'{CLUSTER}-{namespace}')
    # somebody else's endpoint service on the same NLB: uninstall leaves it
    foreign = ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[nlb])['ServiceConfiguration']['ServiceId']
    inventory = write_inventory(tmp_path / 'hosts.yml', {'link': link, 'missing': missing})
    try:
        first = run_playbook('site.yml', inventory, env=STATS_ENV)
        summary = custom_stats_summary(first.stdout)
        assert summary['link']['status'] == 'healthy', first.output[-6000:]
        # the gateway role rendered the controller's internal-NLB annotations onto the live Service
        annotations = _gateway_service(cluster, namespace)['metadata']['annotations']
        assert {k: v for k, v in annotations.items() if k.startswith(LBC)} == {
            LBC + 'type': 'external', LBC + 'nlb-target-type': 'ip', LBC + 'scheme': 'internal',
            LBC + 'healthcheck-protocol': 'http', LBC + 'healthcheck-path': '/v1/health',
            LBC + 'healthcheck-port': str(PORT)}
        [config] = endpoint_services(ec2, owner)
        assert config['NetworkLoadBalancerArns'] == [nlb] and config['AcceptanceRequired'] is True
        principals = ec2.describe_vpc_endpoint_service_permissions(ServiceId=config['ServiceId'])['AllowedPrincipals']
        assert [p['Principal'] for p in principals] == [PORTKEY_PRINCIPAL]
        # what Portkey needs, in the set_stats artifact and the summary line (moto cannot list connections)
        assert summary['link']['private_link'] == {'service_name': config['ServiceName'], 'region': REGION,
                                                   'port': PORT, 'connections': None}
        assert summary['link']['line'].endswith(
            f"; PrivateLink {config['ServiceName']} ({REGION}, port {PORT}), connections: unknown")
        assert 'private link' in summary['link']['changed']
        # bad input: no NLB behind the other host's Service, refused after the timeout naming the variable;
        # it fails the run, the healthy host is not held back, and AWS gets nothing for it
        assert first.rc != 0 and summary['missing']['status'] == 'failed', summary['missing']
        assert 'portkey_private_link.wait_timeout' in summary['missing']['msg'], summary['missing']
        assert endpoint_services(ec2, missing_owner) == []

        rerun = run_playbook('site.yml', inventory, '--limit', 'link', env=STATS_ENV)
        assert rerun.rc == 0 and rerun.changed('link') == 0, rerun.output[-6000:]
        assert custom_stats_summary(rerun.stdout)['link']['changed'] == []
        assert [c['ServiceId'] for c in endpoint_services(ec2, owner)] == [config['ServiceId']]
    finally:
        removed = run_playbook('playbooks/uninstall.yml', inventory)
    assert removed.rc == 0, removed.output[-4000:]
    assert endpoint_services(ec2, owner) == []
    remaining = [c['ServiceId'] for c in ec2.describe_vpc_endpoint_service_configurations()['ServiceConfigurations']]
    assert foreign in remaining
    assert cluster.release(link['portkey_release_name'], namespace) is None
    ec2.delete_vpc_endpoint_service_configurations(ServiceIds=[foreign])
    elbv2.delete_load_balancer(LoadBalancerArn=nlb)
