"""The summary an operator needs (playbooks/summary.yml, templates/summary.j2, the set_stats artifact), per cluster:
the endpoint for Portkey's control plane (load balancer hostname, scheme, port, allowed CIDRs), the run's warnings,
and the reason of any failure. Runs summary.yml alone on results as site.yml's roles leave them (no cluster)."""
from __future__ import annotations

import json

from conftest import VENV_BIN, run_playbook, write_inventory

LB = {'load_balancer': {'type': 'network', 'scheme': 'internal', 'dns_name': 'nlb-1.us-east-1.elb.amazonaws.com'},
      'rules': [{'source_type': 'cidr_ipv4', 'source': '44.221.117.129/32', 'protocol': 'tcp', 'from_port': 8787},
                {'source_type': 'security_group', 'source': 'sg-123', 'protocol': 'tcp', 'from_port': 8787}]}
VERIFIED = {'release': {'name': 'pk', 'namespace': 'ns', 'revision': 2, 'status': 'deployed', 'chart_version': '1.7.7'},
            'service': {'name': 'pk-gateway', 'type': 'LoadBalancer', 'port': 8787,
                        'hostname': 'nlb-1.us-east-1.elb.amazonaws.com'},
            'pods': [{'name': 'p', 'ready': True}], 'healthy': True, 'problems': []}
TLS = {'service.beta.kubernetes.io/aws-load-balancer-ssl-cert': 'arn:aws:acm:us-east-1:123456789012:certificate/x'}


def test_summary_endpoint_warnings_and_reasons(tmp_path):
    base = {'ansible_connection': 'local', 'ansible_python_interpreter': str(VENV_BIN / 'python')}
    hosts = {
        'east': {**base, 'rollout_result': {'status': 'healthy', 'msg': ''}, 'verify_result': VERIFIED,
                 'lb_security_group_result': LB, 'portkey_service': {'annotations': TLS},
                 'gateway_result': {'warnings': ['portkey_image.tag 1.11.4 is older than the chart 1.7.7']}},
        'west': {**base, 'rollout_result': {'status': 'unhealthy', 'task': 'Verify',
                                            'msg': '0/3 gateway pods Ready; GET /v1/health -> 503'},
                 'verify_result': {**VERIFIED, 'healthy': False},
                 # chart 1.0.x: gateway_result carries the secrets warning for the summary (not an Ansible warning)
                 'gateway_result': {'warnings': [],
                                    'secrets_warning': 'chart 1.0.x cannot reference an existing Secret'}},
        'south': {**base, 'rollout_result': {'status': 'failed', 'task': 'Deploy the release', 'msg': 'helm timed out'}},
    }
    inventory = write_inventory(tmp_path / 'inventory.yml', hosts)
    run = run_playbook('playbooks/summary.yml', inventory, env={'ANSIBLE_SHOW_CUSTOM_STATS': '1', 'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json'})
    assert run.rc != 0 and run.failed('west') == 1 and run.failed('south') == 1 and run.failed('east') == 0
    stats = run.stdout[run.stdout.index('CUSTOM STATS'):]
    summary = json.JSONDecoder().raw_decode(stats[stats.index('{'):])[0]['portkey_summary']
    assert summary['east']['endpoint'] == {
        'hostname': 'nlb-1.us-east-1.elb.amazonaws.com', 'scheme': 'https', 'port': 8787,
        'load_balancer_scheme': 'internal', 'allowed_cidrs': ['44.221.117.129/32'],
        'url': 'https://nlb-1.us-east-1.elb.amazonaws.com:8787'}
    assert summary['east']['warnings'] == ['portkey_image.tag 1.11.4 is older than the chart 1.7.7']
    assert summary['east']['reason'] == ''
    assert summary['west']['endpoint']['scheme'] == 'http' and summary['west']['endpoint']['allowed_cidrs'] is None
    assert summary['west']['warnings'] == ['chart 1.0.x cannot reference an existing Secret']
    assert summary['west']['reason'] == 'Verify: 0/3 gateway pods Ready; GET /v1/health -> 503'
    assert summary['south']['reason'] == 'Deploy the release: helm timed out'
    assert summary['south']['endpoint']['hostname'] is None
    assert "failed in 'Verify': 0/3 gateway pods Ready" in run.stdout
