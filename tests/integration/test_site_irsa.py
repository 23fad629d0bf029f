"""site.yml end to end on the production path of inventories/example: LOG_STORE s3_assume with the log_store role
enabled (bucket, least-privilege policy and IRSA role in moto), so the role ARN it creates flows into the
ServiceAccount annotation, and preflight validates the values before that role exists.
"""
from __future__ import annotations

import os

import pytest

from conftest import lab_vars, run_playbook, write_inventory

boto3 = pytest.importorskip('boto3')

IRSA_ANNOTATION = 'eks.amazonaws.com/role-arn'


def test_site_s3_assume_creates_the_role_and_annotates_the_service_account(lab, tmp_path):
    """Chart 1.7.x, as inventories/example (the 1.0.x chart's annotation is covered by the values unit tests)."""
    iam = boto3.client('iam', endpoint_url=os.environ['AWS_URL'], region_name='us-east-1')
    account = boto3.client('sts', endpoint_url=os.environ['AWS_URL'], region_name='us-east-1') \
        .get_caller_identity()['Account']
    hostvars = lab_vars('1.7')
    release, namespace = hostvars['portkey_release_name'], hostvars['portkey_namespace']
    issuer = f'oidc.eks.us-east-1.amazonaws.com/id/{release.upper()}'
    provider = iam.create_open_id_connect_provider(Url=f'https://{issuer}', ClientIDList=['sts.amazonaws.com'],
                                                   ThumbprintList=['9e99a48a9960b14926bb7f3b02e22da2b0ab7280'])
    bucket = f'portkey-logs-{release}'
    hostvars.update({
        'portkey_aws_region': 'us-east-1',
        'portkey_service_account': {'name': f'{release}-sa'},
        'portkey_environment': {**hostvars['portkey_environment'], 'LOG_STORE': 's3_assume',
                                'LOG_STORE_REGION': 'us-east-1', 'LOG_STORE_GENERATIONS_BUCKET': bucket},
        'portkey_log_store_aws': {'enabled': True, 'mode': 's3_assume', 'bucket': bucket,
                                  'oidc_provider_arn': provider['OpenIDConnectProviderArn']},
    })
    inventory = write_inventory(tmp_path / 'inv.yml', {'lab': hostvars})
    try:
        run = run_playbook('site.yml', inventory)
        assert run.rc == 0, run.output[-4000:]
        role_arn = f'arn:aws:iam::{account}:role/{release}-lab-log-store'  # <release>-<cluster>-log-store
        assert iam.get_role(RoleName=f'{release}-lab-log-store')['Role']['Arn'] == role_arn
        account_obj = lab.get(f'/api/v1/namespaces/{namespace}/serviceaccounts/{release}-sa')
        assert account_obj, f'ServiceAccount {release}-sa was not created'
        assert account_obj['metadata'].get('annotations', {}).get(IRSA_ANNOTATION) == role_arn
        # no placeholder account anywhere in what helm stored
        values = lab.helm('get', 'values', release, '-n', namespace, '-o', 'json').stdout
        assert '000000000000' not in values and role_arn in values

        rerun = run_playbook('site.yml', inventory)
        assert rerun.rc == 0 and rerun.changed() == 0, rerun.output[-4000:]
    finally:
        run_playbook('playbooks/uninstall.yml', inventory)
