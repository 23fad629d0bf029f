"""The controller's IAM policy in docs/getting-started-eks.md allows every AWS API call the collection makes.

Every playbook run of the integration session records its modules' AWS calls (conftest.AWS_CALL_LOG, written by
tests/integration/aws_calls/sitecustomize.py, a botocore hook on PYTHONPATH). This test runs last and maps each
call to its IAM action; an action the documented policy does not allow fails the test, with the list to add.
"""
from __future__ import annotations

import fnmatch
import json
import re

import pytest

from conftest import AWS_CALL_LOG, ROOT

DOC = ROOT / 'docs' / 'getting-started-eks.md'
# botocore service name -> IAM service prefix (where they differ)
SERVICE_PREFIX = {'elbv2': 'elasticloadbalancing', 'elb': 'elasticloadbalancing'}
# API operations whose IAM action has another name
OPERATION_ACTION = {
    ('s3', 'HeadBucket'): 's3:ListBucket',
    ('s3', 'ListObjectsV2'): 's3:ListBucket',
    ('s3', 'ListObjects'): 's3:ListBucket',
    ('s3', 'HeadObject'): 's3:GetObject',
    ('s3', 'GetBucketEncryption'): 's3:GetEncryptionConfiguration',
    ('s3', 'PutBucketEncryption'): 's3:PutEncryptionConfiguration',
    ('s3', 'DeleteBucketEncryption'): 's3:PutEncryptionConfiguration',
    ('s3', 'GetPublicAccessBlock'): 's3:GetBucketPublicAccessBlock',
    ('s3', 'PutPublicAccessBlock'): 's3:PutBucketPublicAccessBlock',
    ('s3', 'DeletePublicAccessBlock'): 's3:PutBucketPublicAccessBlock',
    ('s3', 'GetBucketLifecycleConfiguration'): 's3:GetLifecycleConfiguration',
    ('s3', 'PutBucketLifecycleConfiguration'): 's3:PutLifecycleConfiguration',
    ('s3', 'GetObjectLockConfiguration'): 's3:GetBucketObjectLockConfiguration',
    ('s3', 'GetBucketAccelerateConfiguration'): 's3:GetAccelerateConfiguration',
    ('s3', 'GetBucketReplication'): 's3:GetReplicationConfiguration',
    ('s3', 'GetBucketCors'): 's3:GetBucketCORS',
    ('s3', 'GetBucketNotificationConfiguration'): 's3:GetBucketNotification',
    ('s3', 'DeleteBucketOwnershipControls'): 's3:PutBucketOwnershipControls',
    ('s3', 'DeleteBucketTagging'): 's3:PutBucketTagging',
    ('s3', 'ListBucketInventoryConfigurations'): 's3:GetInventoryConfiguration',
}
NO_PERMISSION = {'sts:GetCallerIdentity'}   # every identity may call it


def iam_action(service: str, operation: str) -> str:
    return OPERATION_ACTION.get((service, operation)) or f'{SERVICE_PREFIX.get(service, service)}:{operation}'


def documented_policy() -> dict:
    match = re.search(r'<!-- controller-policy:begin -->\s*```json\n(.*?)```\s*<!-- controller-policy:end -->',
                      DOC.read_text(), re.S)
    assert match, f'{DOC} has no controller-policy JSON block'
    return json.loads(match.group(1))


def allowed_actions(policy: dict) -> list[str]:
    found = []
    for statement in policy['Statement']:
        if statement.get('Effect') == 'Allow':
            actions = statement.get('Action', [])
            found += [actions] if isinstance(actions, str) else actions
    return found


def is_allowed(action: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in patterns)


def test_documented_policy_is_valid_and_not_a_wildcard():
    policy = documented_policy()
    assert policy['Version'] == '2012-10-17'
    actions = allowed_actions(policy)
    assert actions and not any(a == '*' or a.endswith(':*') for a in actions)
    assert is_allowed('s3:PutEncryptionConfiguration', ['s3:PutEncryption*'])
    assert iam_action('elbv2', 'DescribeLoadBalancers') == 'elasticloadbalancing:DescribeLoadBalancers'


@pytest.mark.after_aws_runs
def test_documented_policy_allows_every_aws_call_the_collection_made():
    calls = {tuple(line.split()) for line in AWS_CALL_LOG.read_text().splitlines() if line.strip()}
    if not calls:
        pytest.skip('no playbook of this session called AWS (run it with test_aws_roles.py / test_site_irsa.py)')
    needed = {iam_action(service, operation) for service, operation in calls} - NO_PERMISSION
    patterns = allowed_actions(documented_policy())
    missing = sorted(a for a in needed if not is_allowed(a, patterns))
    assert missing == [], f'add to the controller policy in {DOC.relative_to(ROOT)}: {missing}'
