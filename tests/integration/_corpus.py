"""The bad-input corpus (data) and the helpers that run it and read its results.

Each case is one inventory host: lab_vars() of a generation, with ``vars`` merged over it and ``drop`` keys removed.
Every case must fail before any write to the cluster or AWS, with an error naming the variable: at least one of
``expect`` (the inventory variable first; a role variable that falls back to it is accepted, since role asserts
name the role's own variable) must appear in the host's failure messages.
"""
from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field

CONTROL_PLANE = '44.221.117.129/32'
VPC_A = 'vpc-0a1b2c3d4e5f60718'
VPC_B = 'vpc-0f1e2d3c4b5a69788'


@dataclass(frozen=True)
class Case:
    id: str
    family: str
    expect: tuple[str, ...]
    vars: dict = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    generation: str = '1.0'
    # environment keys merged into lab_vars()' portkey_environment (instead of replacing it via vars)
    env: dict = field(default_factory=dict)
    # text that must not appear anywhere in the run's output (secrets)
    forbid: tuple[str, ...] = ()


def _s3(store='s3', **extra):
    env = {'LOG_STORE': store, 'LOG_STORE_REGION': 'us-east-1', 'LOG_STORE_GENERATIONS_BUCKET': 'pk-corpus-logs',
           'LOG_STORE_ACCESS_KEY': 'corpus-access-key', 'LOG_STORE_SECRET_KEY': 'corpus-secret-key'}
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def _clickhouse(**extra):
    env = {'ANALYTICS_STORE': 'clickhouse', 'ANALYTICS_STORE_ENDPOINT': 'https://clickhouse.example:8443',
           'ANALYTICS_STORE_USER': 'portkey', 'ANALYTICS_STORE_PASSWORD': 'corpus-ch-password',
           'ANALYTICS_LOG_TABLE': 'generations', 'ANALYTICS_FEEDBACK_TABLE': 'feedbacks'}
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def _peering(**extra):
    peering = {'enabled': True, 'vpc_id': VPC_A, 'peer_vpc_id': VPC_B, 'peer_cidr': '10.99.0.0/16'}
    peering.update(extra)
    return {'portkey_vpc_peering': {k: v for k, v in peering.items() if v is not None}}


def _lb(**extra):
    return {'portkey_lb_security_group': {'enabled': True, 'cidrs': [CONTROL_PLANE], **extra}}


def _irsa_role():
    return {'portkey_service_account': {'role_arn': 'arn:aws:iam::123456789012:role/pk-corpus-log-store'}}


CASES: tuple[Case, ...] = (
    # ---- chart source
    Case('chart-unknown-ref', 'chart source', ('portkey_chart_git_ref',), {'portkey_chart_git_ref': 'v9.9.9'}),
    Case('chart-bad-source-type', 'chart source', ('portkey_chart_source', 'chart_source_type'),
         {'portkey_chart_source': 'svn'}),
    Case('chart-repo-no-version', 'chart source', ('portkey_chart_version',),
         {'portkey_chart_source': 'repo', 'portkey_chart_repo_url': os.environ.get('PORTKEY_LAB_HELM_REPO_URL', ''),
          'portkey_chart_name': 'gateway'}),
    Case('chart-path-missing', 'chart source', ('portkey_chart_local_path',), {'portkey_chart_source': 'path'}),
    Case('chart-path-not-a-chart', 'chart source', ('portkey_chart_local_path', 'chart_path'),
         {'portkey_chart_source': 'path', 'portkey_chart_local_path': '/nonexistent/portkey-chart'}),
    Case('chart-bad-git-path', 'chart source', ('portkey_chart_git_path',),
         {'portkey_chart_git_path': 'charts/nothing-here'}),
    Case('chart-generation-unknown', 'chart source', ('portkey_chart_generation', 'gateway_chart_generation'),
         {'portkey_chart_generation': '2.0'}),
    # ---- credentials
    Case('creds-no-password', 'credentials', ('portkey_image_credentials.password',),
         {'portkey_image_credentials': {'username': 'lab-user'}}),
    Case('creds-no-username', 'credentials', ('portkey_image_credentials.username',),
         {'portkey_image_credentials': {'password': '{{ vault_portkey_registry_password }}'}}),
    Case('creds-and-pull-secret', 'credentials', ('portkey_image_pull_secret',),
         {'portkey_image_pull_secret': 'my-pull-secret'}),
    Case('creds-none-private-image', 'credentials', ('portkey_image_credentials',),
         {'portkey_image_credentials': {}}),
    Case('creds-unknown-key', 'credentials', ('portkey_image_credentials.user',),
         {'portkey_image_credentials': {'user': 'lab-user', 'password': 'x-registry-password'}}),
    Case('pull-secret-bad-name', 'credentials', ('portkey_image_pull_secret',),
         {'portkey_image_credentials': {}, 'portkey_image_pull_secret': 'Bad_Secret_Name'}),
    Case('secrets-existing-no-keys', 'credentials', ('portkey_secrets.keys',),
         {'portkey_secrets': {'mode': 'existing', 'name': 'portkey-env'}}, drop=('portkey_client_auth',),
         generation='1.7'),
    Case('secrets-owned-on-1.0', 'credentials', ('portkey_secrets.mode',), {'portkey_secrets': {'mode': 'owned'}}),
    Case('client-auth-empty', 'credentials', ('portkey_client_auth',), {'portkey_client_auth': ''}),
    Case('client-auth-conflict', 'credentials', ('portkey_client_auth',),
         env={'PORTKEY_CLIENT_AUTH': 'another-client-auth'}),
    Case('orgs-missing', 'credentials', ('portkey_organisations_to_sync',), drop=('portkey_organisations_to_sync',)),
    # ---- LOG_STORE
    Case('log-mongo-no-url', 'log store', ('portkey_environment.MONGO_DB_CONNECTION_URL',),
         env={'LOG_STORE': 'mongo', 'MONGO_DATABASE': 'portkey', 'MONGO_COLLECTION_NAME': 'logs'}),
    Case('log-s3-no-secret-key', 'log store', ('portkey_environment.LOG_STORE_SECRET_KEY',),
         env=_s3(LOG_STORE_SECRET_KEY=None)),
    Case('log-s3-empty-access-key', 'log store', ('portkey_environment.LOG_STORE_ACCESS_KEY',),
         env=_s3(LOG_STORE_ACCESS_KEY='')),
    Case('log-wasabi-no-bucket', 'log store', ('portkey_environment.LOG_STORE_GENERATIONS_BUCKET',),
         env=_s3('wasabi', LOG_STORE_GENERATIONS_BUCKET=None)),
    Case('log-gcs-no-region', 'log store', ('portkey_environment.LOG_STORE_REGION',),
         env=_s3('gcs', LOG_STORE_REGION=None)),
    Case('log-s3-assume-static-keys', 'log store', ('portkey_environment.LOG_STORE_ACCESS_KEY',),
         {**_irsa_role()}, env=_s3('s3_assume')),
    Case('log-s3-assume-no-role', 'log store', ('portkey_service_account.role_arn',),
         env=_s3('s3_assume', LOG_STORE_ACCESS_KEY=None, LOG_STORE_SECRET_KEY=None)),
    Case('log-store-unknown', 'log store', ('portkey_environment.LOG_STORE',), env={'LOG_STORE': 'ftp'}),
    Case('log-aws-bad-bucket', 'log store', ('portkey_log_store_aws.bucket', 'log_store_bucket'),
         {'portkey_log_store_aws': {'enabled': True, 'mode': 's3', 'bucket': 'Bad_Bucket_Name'}}, env=_s3()),
    Case('log-aws-bad-mode', 'log store', ('portkey_log_store_aws.mode', 'log_store_type'),
         {'portkey_log_store_aws': {'enabled': True, 'mode': 'gcs', 'bucket': 'pk-corpus-bad-mode'}}, env=_s3()),
    Case('log-aws-assume-no-oidc', 'log store', ('portkey_log_store_aws.oidc_provider_arn',
                                                 'log_store_oidc_provider_arn'),
         {'portkey_log_store_aws': {'enabled': True, 'mode': 's3_assume', 'bucket': 'pk-corpus-no-oidc'},
          **_irsa_role()},
         env=_s3('s3_assume', LOG_STORE_ACCESS_KEY=None, LOG_STORE_SECRET_KEY=None,
                 LOG_STORE_GENERATIONS_BUCKET='pk-corpus-no-oidc')),
    Case('log-aws-bucket-mismatch', 'log store', ('portkey_log_store_aws.bucket',),
         {'portkey_log_store_aws': {'enabled': True, 'mode': 's3', 'bucket': 'pk-corpus-other-bucket'}}, env=_s3()),
    Case('log-aws-role-name-too-long', 'log store', ('portkey_log_store_aws.role_name',),
         {'portkey_log_store_aws': {'enabled': True, 'mode': 's3_assume', 'role_name': 'r' * 65,
                                    'oidc_provider_arn': 'arn:aws:iam::123456789012:oidc-provider/oidc.eks.x/id/Y'},
          **_irsa_role()},
         env=_s3('s3_assume', LOG_STORE_ACCESS_KEY=None, LOG_STORE_SECRET_KEY=None)),
    # ---- MongoDB user of the log store
    Case('mongodb-no-login-host', 'log store', ('portkey_mongodb_access.login_host',),
         {'portkey_mongodb_access': {'enabled': True, 'database': 'portkey_logs', 'password': 'corpus-mongo-pw-0001'}}),
    Case('mongodb-ca-file-missing', 'log store', ('portkey_mongodb_access.tls_ca_file',),
         {'portkey_mongodb_access': {'enabled': True, 'login_host': 'docdb.corpus.example', 'tls': True,
                                     'tls_ca_file': '/nonexistent/global-bundle.pem', 'database': 'portkey_logs',
                                     'password': 'corpus-mongo-pw-0001'}}),
    # ---- guards on the final values
    Case('env-configmap-1.0-through-extra-values', 'types and keys', ('portkey_extra_values.environment.secret',),
         {'portkey_extra_values': {'environment': {'secret': False}}}),
    Case('env-configmap-1.0', 'types and keys', ('portkey_environment_secret',), {'portkey_environment_secret': False}),
    Case('pdb-min-available-zero', 'high availability', ('portkey_high_availability.pdb_min_available',),
         {'portkey_high_availability': {'pdb': True, 'pdb_min_available': 0}}),
    # ---- CACHE_STORE
    Case('cache-redis-external-rediss-tls-false', 'cache store', ('portkey_environment.REDIS_TLS_ENABLED',),
         env={'CACHE_STORE': 'redis', 'REDIS_URL': 'rediss://cache.example:6380', 'REDIS_TLS_ENABLED': 'false'}),
    Case('cache-redis-external-bad-scheme', 'cache store', ('portkey_environment.REDIS_URL',),
         env={'CACHE_STORE': 'redis', 'REDIS_URL': 'http://cache.example:6379'}),
    Case('cache-elasticache-no-url', 'cache store', ('portkey_environment.REDIS_URL',),
         env={'CACHE_STORE': 'aws-elastic-cache', 'REDIS_TLS_ENABLED': 'true'}),
    Case('cache-custom-no-url', 'cache store', ('portkey_environment.REDIS_URL',),
         env={'CACHE_STORE': 'custom', 'REDIS_TLS_ENABLED': 'false'}),
    Case('cache-custom-rediss-tls-false', 'cache store', ('portkey_environment.REDIS_TLS_ENABLED',),
         env={'CACHE_STORE': 'custom', 'REDIS_URL': 'rediss://cache.example:6379', 'REDIS_TLS_ENABLED': 'false'}),
    Case('cache-tls-not-boolean', 'cache store', ('portkey_environment.REDIS_TLS_ENABLED',),
         env={'CACHE_STORE': 'custom', 'REDIS_URL': 'redis://cache.example:6379', 'REDIS_TLS_ENABLED': 'maybe'}),
    Case('cache-store-unknown', 'cache store', ('portkey_environment.CACHE_STORE',),
         env={'CACHE_STORE': 'memcached'}),
    # ---- analytics
    Case('analytics-clickhouse-no-endpoint', 'analytics', ('portkey_environment.ANALYTICS_STORE_ENDPOINT',),
         env=_clickhouse(ANALYTICS_STORE_ENDPOINT=None)),
    Case('analytics-clickhouse-no-user', 'analytics', ('portkey_environment.ANALYTICS_STORE_USER',),
         env=_clickhouse(ANALYTICS_STORE_USER=None)),
    Case('analytics-clickhouse-no-password', 'analytics', ('portkey_environment.ANALYTICS_STORE_PASSWORD',),
         env=_clickhouse(ANALYTICS_STORE_PASSWORD=None)),
    Case('analytics-clickhouse-no-tables', 'analytics', ('portkey_environment.ANALYTICS_LOG_TABLE',),
         env=_clickhouse(ANALYTICS_LOG_TABLE=None, ANALYTICS_FEEDBACK_TABLE=None)),
    # ---- service
    Case('service-target-port', 'service', ('portkey_service.targetPort',),
         {'portkey_service': {'type': 'LoadBalancer', 'port': 8787, 'targetPort': 8080}}),
    Case('service-port-not-8787-legacy', 'service', ('portkey_service.port',), {'portkey_service': {'port': 9000}}),
    Case('service-bad-type', 'service', ('portkey_service.type',), {'portkey_service': {'type': 'Ingress'}}),
    Case('env-port-not-8787-legacy', 'service', ('portkey_environment.PORT',), env={'PORT': '9000'}),
    # ---- HA
    Case('ha-replicas-zero', 'high availability', ('portkey_replicas',), {'portkey_replicas': 0}),
    Case('ha-replicas-word', 'high availability', ('portkey_replicas',), {'portkey_replicas': 'two'}),
    Case('ha-autoscaling-min-gt-max', 'high availability', ('portkey_autoscaling.min_replicas',),
         {'portkey_autoscaling': {'enabled': True, 'min_replicas': 5, 'max_replicas': 2}}),
    Case('ha-zone-spread-not-bool', 'high availability', ('portkey_high_availability.zone_spread',),
         {'portkey_high_availability': {'zone_spread': 'sometimes'}}),
    Case('ha-strategy-no-progress', 'high availability', ('portkey_strategy',),
         {'portkey_strategy': {'max_surge': 0, 'max_unavailable': 0}}, generation='1.7'),
    # ---- network policy
    Case('netpol-mode-unknown', 'network policy', ('portkey_network_policy.mode', 'network_policy_mode'),
         {'portkey_network_policy': {'enabled': True, 'mode': 'deny_some'}}),
    Case('netpol-bad-https-cidr', 'network policy', ('portkey_network_policy.https_cidrs',
                                                     'network_policy_https_cidrs'),
         {'portkey_network_policy': {'enabled': True, 'mode': 'restricted', 'https_cidrs': ['the-internet']}}),
    Case('netpol-bad-redis-cidr', 'network policy', ('portkey_network_policy.redis_cidrs',
                                                     'network_policy_redis_cidrs'),
         {'portkey_network_policy': {'enabled': True, 'mode': 'restricted', 'redis_cidrs': ['10.0.0.0']}}),
    # ---- VPC peering
    Case('peering-no-peer-vpc', 'vpc peering', ('portkey_vpc_peering.peer_vpc_id', 'vpc_peering_peer_vpc_id'),
         _peering(peer_vpc_id=None)),
    Case('peering-bad-cidr', 'vpc peering', ('portkey_vpc_peering.peer_cidr', 'vpc_peering_peer_cidr'),
         _peering(peer_cidr='10.99.0/16')),
    Case('peering-bad-account-id', 'vpc peering', ('portkey_vpc_peering.peer_owner_id', 'vpc_peering_peer_owner_id'),
         _peering(peer_owner_id='12345')),
    Case('peering-bad-security-group', 'vpc peering', ('portkey_vpc_peering.security_group_ids',
                                                       'vpc_peering_security_group_ids'),
         _peering(security_group_ids=['default'])),
    Case('peering-bad-route-table', 'vpc peering', ('portkey_vpc_peering.route_table_ids',
                                                    'vpc_peering_route_table_ids'),
         _peering(route_table_ids=['main'])),
    # ---- AWS ids and CIDRs (load balancer security group)
    Case('lb-world-without-allow', 'aws ids and cidrs', ('portkey_lb_security_group.cidrs', 'lb_security_group_cidrs'),
         _lb(cidrs=['0.0.0.0/0'])),
    Case('lb-bad-source-sg', 'aws ids and cidrs', ('portkey_lb_security_group.security_group_ids',
                                                   'lb_security_group_source_security_group_ids'),
         _lb(security_group_ids=['sg-NOTANID'])),
    Case('lb-bad-target-sg', 'aws ids and cidrs', ('portkey_lb_security_group.target_security_group_ids',
                                                   'lb_security_group_target_security_group_ids'),
         _lb(target_security_group_ids=['launch-wizard-1'])),
    Case('lb-bad-cidr', 'aws ids and cidrs', ('portkey_lb_security_group.cidrs', 'lb_security_group_cidrs'),
         _lb(cidrs=['office-network'])),
    Case('lb-no-sources', 'aws ids and cidrs', ('portkey_lb_security_group.cidrs', 'lb_security_group_cidrs'),
         _lb(cidrs=[])),
    Case('lb-bad-prefix-list', 'aws ids and cidrs', ('portkey_lb_security_group.prefix_list_ids',
                                                     'lb_security_group_prefix_list_ids'),
         _lb(prefix_list_ids=['com.amazonaws.us-east-1.s3'])),
    # ---- load balancer annotations and PrivateLink (checked with the gateway values, before any change)
    Case('lbc-bad-cidr', 'load balancer', ('portkey_load_balancer.cidrs',),
         {'portkey_load_balancer': {'enabled': True, 'cidrs': ['10.0.0.0/33']}}),
    Case('lbc-world-without-allow', 'load balancer', ('portkey_load_balancer.cidrs',),
         {'portkey_load_balancer': {'enabled': True, 'cidrs': ['0.0.0.0/0']}}),
    Case('lbc-bad-cert-arn', 'load balancer', ('portkey_load_balancer.certificate_arn',),
         {'portkey_load_balancer': {'enabled': True, 'certificate_arn': 'my-certificate'}}, generation='1.7'),
    Case('pl-bad-principal', 'load balancer', ('portkey_private_link.allowed_principals',),
         {'portkey_private_link': {'enabled': True, 'allowed_principals': ['299329113195']}}),
    Case('pl-internet-facing', 'load balancer', ('portkey_private_link.enabled',),
         {'portkey_private_link': {'enabled': True}, 'portkey_load_balancer': {'scheme': 'internet-facing'}}),
    # ---- wrong types, empty strings, unknown keys
    Case('type-environment-list', 'types and keys', ('portkey_environment',),
         {'portkey_environment': ['CACHE_STORE=redis']}),
    Case('type-service-string', 'types and keys', ('portkey_service',), {'portkey_service': 'LoadBalancer'}),
    Case('type-env-value-dict', 'types and keys', ('portkey_environment.SERVICE_NAME',),
         env={'SERVICE_NAME': {'name': 'gw'}}),
    Case('type-env-bad-name', 'types and keys', ('portkey_environment.1BAD-NAME',), env={'1BAD-NAME': 'x'}),
    Case('type-resources-bad-quantity', 'types and keys', ('portkey_resources.requests',),
         {'portkey_resources': {'requests': {'cpu': 'lots', 'memory': '2Gi'}}}),
    Case('type-release-name', 'types and keys', ('portkey_release_name',),
         {'portkey_release_name': 'Bad_Release'}),
    Case('type-namespace', 'types and keys', ('portkey_namespace',), {'portkey_namespace': 'Bad_Namespace'}),
    Case('empty-organisations', 'types and keys', ('portkey_organisations_to_sync',),
         {'portkey_organisations_to_sync': ''}),
    Case('image-tag-latest', 'types and keys', ('portkey_image.tag',),
         {'portkey_image': {'repository': 'docker.io/portkeyai/gateway_enterprise', 'tag': 'latest'}}),
    Case('unknown-image-key', 'types and keys', ('portkey_image.repo',),
         {'portkey_image': {'repo': 'docker.io/portkeyai/gateway_enterprise', 'tag': '1.11.4'}}),
    Case('unknown-service-key', 'types and keys', ('portkey_service.loadBalancerIP',),
         {'portkey_service': {'type': 'LoadBalancer', 'loadBalancerIP': '10.0.0.1'}}),
    Case('pod-label-selector', 'types and keys', ('portkey_pod_labels.app.kubernetes.io/name',),
         {'portkey_pod_labels': {'app.kubernetes.io/name': 'other'}}),
    Case('extra-values-auto-restart', 'types and keys', ('portkey_extra_values.autoRestart',),
         {'portkey_extra_values': {'autoRestart': True}}),
    # ---- CIDRs checked with ipaddress (issue 17: regexes let these through)
    Case('lb-cidr-octet-300', 'cidrs', ('portkey_lb_security_group.cidrs',), _lb(cidrs=['300.1.1.1/32'])),
    Case('lb-cidr-world-00', 'cidrs', ('portkey_lb_security_group.cidrs',), _lb(cidrs=['0.0.0.0/00'])),
    Case('lb-cidr-world-v6', 'cidrs', ('portkey_lb_security_group.cidrs',), _lb(cidrs=['::/0'])),
    Case('lb-cidr-host-bits', 'cidrs', ('portkey_lb_security_group.cidrs',), _lb(cidrs=['10.0.0.1/8'])),
    Case('lb-cidr-prefix-33', 'cidrs', ('portkey_lb_security_group.cidrs',), _lb(cidrs=['10.0.0.0/33'])),
    Case('lb-cidr-bad-v6', 'cidrs', ('portkey_lb_security_group.cidrs',), _lb(cidrs=['fe80::zz/64'])),
    Case('lb-cidrs-a-string', 'cidrs', ('portkey_lb_security_group.cidrs',), _lb(cidrs=CONTROL_PLANE)),
    Case('lb-cidr-no-prefix', 'cidrs', ('portkey_lb_security_group.cidrs',), _lb(cidrs=['44.221.117.129'])),
    Case('netpol-cidr-octet-300', 'cidrs', ('portkey_network_policy.https_cidrs',),
         {'portkey_network_policy': {'enabled': True, 'mode': 'restricted', 'https_cidrs': ['300.1.1.1/32']}}),
    Case('netpol-cidr-third-octet', 'cidrs', ('portkey_network_policy.mongo_cidrs',),
         {'portkey_network_policy': {'enabled': True, 'mode': 'restricted', 'mongo_cidrs': ['10.0.0.300/16']}}),
    Case('netpol-cidr-world-00', 'cidrs', ('portkey_network_policy.redis_cidrs',),
         {'portkey_network_policy': {'enabled': True, 'mode': 'restricted', 'redis_cidrs': ['0.0.0.0/00']}}),
    Case('netpol-egress-cidrs-string', 'cidrs', ('portkey_network_policy.egress_cidrs',),
         {'portkey_network_policy': {'enabled': True, 'mode': 'restricted', 'egress_cidrs': '0.0.0.0/0'}}),
    Case('peering-cidr-octet-300', 'cidrs', ('portkey_vpc_peering.peer_cidr',), _peering(peer_cidr='10.0.0.300/16')),
    Case('peering-cidr-world', 'cidrs', ('portkey_vpc_peering.peer_cidr',), _peering(peer_cidr='0.0.0.0/0')),
    Case('peering-cidr-v6', 'cidrs', ('portkey_vpc_peering.peer_cidr',), _peering(peer_cidr='fd00::/8')),
    Case('peering-cidr-overlap', 'cidrs', ('portkey_vpc_peering.peer_cidr',),
         _peering(peer_cidr='10.99.0.0/16', vpc_cidr='10.0.0.0/8')),
    # ---- names by their Kubernetes rules
    Case('namespace-64-chars', 'names', ('portkey_namespace',), {'portkey_namespace': 'n' * 64}),
    Case('namespace-dots', 'names', ('portkey_namespace',), {'portkey_namespace': 'team.portkey'}),
    Case('namespace-trailing-dash', 'names', ('portkey_namespace',), {'portkey_namespace': 'portkey-'}),
    Case('namespace-empty', 'names', ('portkey_namespace',), {'portkey_namespace': ''}),
    Case('release-54-chars', 'names', ('portkey_release_name',), {'portkey_release_name': 'r' * 54}),
    Case('release-dots', 'names', ('portkey_release_name',), {'portkey_release_name': 'portkey.gateway'}),
    Case('release-number', 'names', ('portkey_release_name',), {'portkey_release_name': 42}),
    Case('pull-secret-uppercase', 'names', ('portkey_image_pull_secret',),
         {'portkey_image_credentials': {}, 'portkey_image_pull_secret': 'RegCred'}),
    Case('service-account-name-bad', 'names', ('portkey_service_account.name',),
         {'portkey_service_account': {'name': 'Gateway SA'}}),
    # ---- durations and helm settings
    Case('helm-timeout-words', 'durations', ('portkey_helm_timeout',), {'portkey_helm_timeout': '5 minutes'}),
    Case('helm-timeout-no-unit', 'durations', ('portkey_helm_timeout',), {'portkey_helm_timeout': '300'}),
    Case('helm-timeout-zero', 'durations', ('portkey_helm_timeout',), {'portkey_helm_timeout': '0s'}),
    Case('helm-timeout-negative', 'durations', ('portkey_helm_timeout',), {'portkey_helm_timeout': '-5m'}),
    Case('helm-timeout-days', 'durations', ('portkey_helm_timeout',), {'portkey_helm_timeout': '1d'}),
    Case('helm-history-word', 'durations', ('portkey_helm_history_max',), {'portkey_helm_history_max': 'ten'}),
    Case('helm-history-negative', 'durations', ('portkey_helm_history_max',), {'portkey_helm_history_max': -1}),
    Case('helm-atomic-maybe', 'durations', ('portkey_helm_atomic',), {'portkey_helm_atomic': 'maybe'}),
    Case('verify-timeout-zero', 'durations', ('portkey_verify_timeout',), {'portkey_verify_timeout': 0}),
    Case('max-fail-percentage-word', 'durations', ('portkey_max_fail_percentage',),
         {'portkey_max_fail_percentage': 'half'}),
    Case('max-fail-percentage-above-100', 'durations', ('portkey_max_fail_percentage',),
         {'portkey_max_fail_percentage': 150}),
    # ---- cluster connection
    Case('kubeconfig-missing', 'cluster', ('portkey_kubeconfig',), {'portkey_kubeconfig': '/nonexistent/kubeconfig'}),
    Case('kubeconfig-a-directory', 'cluster', ('portkey_kubeconfig',), {'portkey_kubeconfig': '/tmp'}),
    Case('kube-context-unknown', 'cluster', ('portkey_kube_context',), {'portkey_kube_context': 'no-such-context'}),
    # ---- regions (botocore's partition data)
    Case('region-typo', 'regions', ('portkey_aws_region',), {'portkey_aws_region': 'us-east-7'}),
    Case('region-no-dashes', 'regions', ('portkey_aws_region',), {'portkey_aws_region': 'useast1'}),
    Case('region-az-not-region', 'regions', ('portkey_aws_region',), {'portkey_aws_region': 'us-east-1a'}),
    Case('peering-region-typo', 'regions', ('portkey_vpc_peering.peer_region',), _peering(peer_region='eu-middle-9')),
    # ---- VPC peering ids and accounts
    Case('peering-vpc-id-short', 'vpc peering', ('portkey_vpc_peering.vpc_id',), _peering(vpc_id='vpc-123')),
    Case('peering-vpc-id-16-hex', 'vpc peering', ('portkey_vpc_peering.peer_vpc_id',),
         _peering(peer_vpc_id='vpc-0f1e2d3c4b5a6978')),
    Case('peering-vpc-id-upper', 'vpc peering', ('portkey_vpc_peering.vpc_id',), _peering(vpc_id='vpc-0A1B2C3D')),
    Case('peering-no-vpc', 'vpc peering', ('portkey_vpc_peering.vpc_id',), _peering(vpc_id=None)),
    Case('peering-account-13-digits', 'vpc peering', ('portkey_vpc_peering.peer_owner_id',),
         _peering(peer_owner_id='1234567890123')),
    Case('peering-accept-other-account', 'vpc peering', ('portkey_vpc_peering.accept',),
         _peering(peer_owner_id='210987654321', accept=True)),
    Case('peering-accept-word', 'vpc peering', ('portkey_vpc_peering.accept',), _peering(accept='sure')),
    Case('peering-route-table-id-short', 'vpc peering', ('portkey_vpc_peering.route_table_ids',),
         _peering(route_table_ids=['rtb-123'])),
    # ---- load balancer settings
    Case('lb-port-too-high', 'aws ids and cidrs', ('portkey_lb_security_group.port',), _lb(port=70000)),
    Case('lb-allow-world-word', 'aws ids and cidrs', ('portkey_lb_security_group.allow_world',),
         _lb(allow_world='please')),
    Case('lb-sg-id-short', 'aws ids and cidrs', ('portkey_lb_security_group.security_group_ids',),
         _lb(security_group_ids=['sg-123'])),
    Case('lb-enabled-word', 'aws ids and cidrs', ('portkey_lb_security_group.enabled',),
         {'portkey_lb_security_group': {'enabled': 'perhaps'}}),
    # ---- log store (AWS side)
    Case('log-aws-bucket-ip', 'log store', ('portkey_log_store_aws.bucket',),
         {'portkey_log_store_aws': {'enabled': True, 'mode': 's3', 'bucket': '192.168.10.1'}}, env=_s3()),
    Case('log-aws-bucket-dots', 'log store', ('portkey_log_store_aws.bucket',),
         {'portkey_log_store_aws': {'enabled': True, 'mode': 's3', 'bucket': 'pk-corpus..logs'}}, env=_s3()),
    Case('log-aws-bucket-short', 'log store', ('portkey_log_store_aws.bucket',),
         {'portkey_log_store_aws': {'enabled': True, 'mode': 's3', 'bucket': 'pk'}}, env=_s3()),
    Case('log-aws-role-name-bad', 'log store', ('portkey_log_store_aws.role_name',),
         {'portkey_log_store_aws': {'enabled': True, 'mode': 's3', 'bucket': 'pk-corpus-role',
                                    'role_name': 'role with spaces'}}, env=_s3()),
    Case('log-aws-account-bad', 'log store', ('portkey_log_store_aws.account_id',),
         {'portkey_log_store_aws': {'enabled': True, 'mode': 's3', 'bucket': 'pk-corpus-acct',
                                    'account_id': '1234'}}, env=_s3()),
    Case('log-aws-partition-bad', 'log store', ('portkey_log_store_aws.partition',),
         {'portkey_log_store_aws': {'enabled': True, 'mode': 's3', 'bucket': 'pk-corpus-part',
                                    'partition': 'aws-moon'}}, env=_s3()),
    Case('log-aws-oidc-arn-bad', 'log store', ('portkey_log_store_aws.oidc_provider_arn',),
         {'portkey_log_store_aws': {'enabled': True, 'mode': 's3_assume', 'bucket': 'pk-corpus-oidc',
                                    'oidc_provider_arn': 'oidc.eks.us-east-1.amazonaws.com/id/ABC'}, **_irsa_role()},
         env=_s3('s3_assume', LOG_STORE_ACCESS_KEY=None, LOG_STORE_SECRET_KEY=None)),
    Case('log-aws-enabled-word', 'log store', ('portkey_log_store_aws.enabled',),
         {'portkey_log_store_aws': {'enabled': 'yes please', 'bucket': 'pk-corpus-word'}}),
    Case('log-aws-bad-bucket-and-timeout', 'log store', ('portkey_log_store_aws.bucket', 'portkey_helm_timeout'),
         {'portkey_log_store_aws': {'enabled': True, 'mode': 's3', 'bucket': 'Bad_Bucket'},
          'portkey_helm_timeout': 'soon'}, env=_s3()),
    # ---- cache
    Case('cache-ca-file-missing', 'cache store', ('portkey_cache_ca_file',),
         {'portkey_cache_ca_file': '/nonexistent/ca.pem'}),
    Case('cache-check-word', 'cache store', ('portkey_cache_check',), {'portkey_cache_check': 'sometimes'}),
    # ---- HPA bounds against the chart's defaults, chart generation against Chart.yaml
    Case('ha-min-above-chart-max', 'high availability', ('portkey_autoscaling.min_replicas',),
         {'portkey_autoscaling': {'enabled': True, 'min_replicas': 25}}),
    Case('ha-max-below-chart-min', 'high availability', ('portkey_autoscaling.max_replicas',),
         {'portkey_autoscaling': {'enabled': True, 'max_replicas': 1}}, generation='1.7'),
    Case('ha-replicas-negative', 'high availability', ('portkey_replicas',), {'portkey_replicas': -1}),
    Case('generation-forced-1.7-on-1.0', 'chart source', ('portkey_chart_generation',),
         {'portkey_chart_generation': '1.7'}),
    Case('generation-forced-1.0-on-1.7', 'chart source', ('portkey_chart_generation',),
         {'portkey_chart_generation': '1.0'}, generation='1.7'),
    # ---- step flags and expressions
    Case('netpol-enabled-word', 'types and keys', ('portkey_network_policy.enabled',),
         {'portkey_network_policy': {'enabled': 'sometimes'}}),
    Case('netpol-not-a-dict', 'types and keys', ('portkey_network_policy',), {'portkey_network_policy': 'restricted'}),
    Case('undefined-vault-variable', 'types and keys', ('portkey_client_auth',),
         {'portkey_client_auth': '{{ vault_portkey_client_auth_missing }}'}),
    Case('service-port-word', 'types and keys', ('portkey_service.port',), {'portkey_service': {'port': 'http'}},
         generation='1.7'),
    # ---- secrets in URLs never printed
    Case('chart-git-url-token', 'secrets in urls', ('portkey_chart_git_url',),
         {'portkey_chart_git_url': 'http://x-access-token:ghp_CorpusToken0123@127.0.0.1:9/portkey/chart.git'},
         forbid=('ghp_CorpusToken0123',)),
    Case('cache-url-password-bad-store', 'secrets in urls', ('portkey_environment.CACHE_STORE',),
         env={'CACHE_STORE': 'memcache', 'REDIS_URL': 'redis://user:corpus-redis-pass@cache.example:6379'},
         forbid=('corpus-redis-pass',)),
)


def case_vars(case: Case, lab_vars) -> dict:
    """The inventory host vars of a case (lab_vars is conftest.lab_vars)."""
    host = lab_vars(case.generation)
    for key, value in case.vars.items():
        host[key] = value
    if case.env:
        host['portkey_environment'] = {**host['portkey_environment'], **case.env}
    for key in case.drop:
        host.pop(key, None)
    return host


# ------------------------------------------------------------------------------------------------------------------
# The JSON callback's output


def host_failures(report: dict) -> dict[str, list[dict]]:
    """host -> [{task, text}] for every failed task (and failed loop item) in ansible.builtin.json output."""
    failures: dict[str, list[dict]] = {}
    for play in report.get('plays', []):
        for task in play.get('tasks', []):
            name = task['task']['name']
            for host, result in task.get('hosts', {}).items():
                if not result.get('failed'):
                    continue
                parts = [str(result.get('msg', ''))]
                parts += [str(e) for e in result.get('errors') or []]
                parts += [str(e) for e in result.get('argument_errors') or []]
                # failed loop items (an assert's items carry evaluated_to: false, not failed)
                parts += [str(item.get('msg', '')) for item in result.get('results') or []
                          if item.get('failed') or item.get('evaluated_to') is False]
                failures.setdefault(host, []).append({'task': name, 'text': '\n'.join(p for p in parts if p)})
    return failures


# Tasks that change only the controller's own files: the chart cache (the first host of a batch to need a chart
# clones it into portkey_cache_dir). Not a change to the cluster or AWS.
CONTROLLER_ONLY_TASKS = ('Fetch the Portkey chart at its pinned ref',)


def host_changes(report: dict) -> dict[str, list[str]]:
    """host -> names of the tasks that reported changed, leaving out CONTROLLER_ONLY_TASKS."""
    changes: dict[str, list[str]] = {}
    for play in report.get('plays', []):
        for task in play.get('tasks', []):
            name = task['task']['name']
            if any(name.endswith(own) for own in CONTROLLER_ONLY_TASKS):
                continue
            for host, result in task.get('hosts', {}).items():
                if result.get('changed'):
                    changes.setdefault(host, []).append(name)
    return changes


def parse_json_report(stdout: str) -> dict:
    """The JSON document in the output (ansible may print warnings before it)."""
    start = stdout.find('{\n')
    return json.loads(stdout[start if start >= 0 else 0:])


# ------------------------------------------------------------------------------------------------------------------
# moto state


def aws_snapshot() -> dict[str, set]:
    """What the corpus must not change in moto: buckets, local IAM policies and roles, security group rules,
    VPC peering connections and routes."""
    import boto3  # the lab's venv has it; imported here so collecting the module never needs AWS

    region = os.environ.get('AWS_REGION', 'us-east-1')
    s3 = boto3.client('s3', region_name=region)
    iam = boto3.client('iam', region_name=region)
    ec2 = boto3.client('ec2', region_name=region)
    snap: dict[str, set] = {}
    snap['buckets'] = {b['Name'] for b in s3.list_buckets().get('Buckets', [])}
    snap['policies'] = {p['PolicyName'] for page in iam.get_paginator('list_policies').paginate(Scope='Local')
                        for p in page['Policies']}
    snap['roles'] = {r['RoleName'] for page in iam.get_paginator('list_roles').paginate() for r in page['Roles']}
    snap['sg_rules'] = {
        json.dumps([r['GroupId'], r.get('IsEgress'), r.get('IpProtocol'), r.get('FromPort'), r.get('ToPort'),
                    r.get('CidrIpv4') or r.get('CidrIpv6') or r.get('PrefixListId')
                    or (r.get('ReferencedGroupInfo') or {}).get('GroupId'), r.get('Description', '')])
        for page in ec2.get_paginator('describe_security_group_rules').paginate() for r in page['SecurityGroupRules']}
    snap['peerings'] = {json.dumps([p['VpcPeeringConnectionId'], p['Status']['Code'],
                                    sorted((t['Key'], t['Value']) for t in p.get('Tags', []))])
                        for p in ec2.describe_vpc_peering_connections()['VpcPeeringConnections']}
    snap['routes'] = {json.dumps([t['RouteTableId'], r.get('DestinationCidrBlock'), r.get('VpcPeeringConnectionId')])
                      for t in ec2.describe_route_tables()['RouteTables'] for r in t.get('Routes', [])}
    return snap


def snapshot_diff(before: dict[str, set], after: dict[str, set]) -> dict[str, list]:
    return {key: sorted((after[key] - before[key]) | (before[key] - after[key]))
            for key in before if after[key] != before[key]}


# ------------------------------------------------------------------------------------------------------------------
# Secret forms for the leak scan


def b64_needles(secret: str) -> set[str]:
    """Base64 fragments that appear whenever ``secret`` is base64-encoded at any byte offset inside longer data
    (3 alignments), plus the standalone encodings (padded and unpadded)."""
    raw = secret.encode()
    needles = {base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip('=')}
    for offset in range(3):
        encoded = base64.b64encode(b'\0' * offset + raw).decode()
        first = -(-offset // 3) * 4  # first 4-char group made only of the secret's bytes
        last = (offset + len(raw)) // 3 * 4
        if last - first >= 8:
            needles.add(encoded[first:last])
    return needles


def secret_forms(secret: str) -> dict[str, set[str]]:
    """form name -> needles: the clear text, base64 (any alignment) and base64 of base64 (Secret data of data)."""
    b64 = b64_needles(secret)
    return {'clear': {secret}, 'base64': b64,
            'base64x2': set().union(*(b64_needles(n) for n in b64 if len(n) >= 12))}
