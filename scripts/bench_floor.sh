#!/usr/bin/env bash
# The floor of the benchmark: Portkey's manual runbook as a plain shell script, against the local lab.
#   scripts/bench_floor.sh RELEASE NAMESPACE [KUBECONFIG]
# Steps (nothing else, no checks): git clone of the chart repo at the pinned tag, write a values file, helm upgrade
# --install (with --wait, the runbook's "check the pods are running"), kubectl apply of the egress NetworkPolicy.
# It reads the lab's variables (PORTKEY_LAB_CHART_GIT_LEGACY, PORTKEY_LAB_CLIENT_AUTH, ...) from the environment
# (scripts/bench.py loads .lab/env); secrets never appear on a command line or in this file.
# A second run repeats the same steps: that is the runbook's "rerun" (helm makes a new revision each time).
set -euo pipefail

release=${1:?usage: bench_floor.sh RELEASE NAMESPACE [KUBECONFIG]}
namespace=${2:?usage: bench_floor.sh RELEASE NAMESPACE [KUBECONFIG]}
kubeconfig=${3:-${KUBECONFIG:?KUBECONFIG is not set: source .lab/env}}
chart_url=${PORTKEY_LAB_CHART_GIT_LEGACY:?PORTKEY_LAB_CHART_GIT_LEGACY is not set: source .lab/env}
chart_ref=${BENCH_FLOOR_CHART_REF:-v1.0.8}
helm_bin=${BENCH_FLOOR_HELM:-helm}
kubectl_bin=${BENCH_FLOOR_KUBECTL:-kubectl}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

# 1. git clone of the chart repo at the tag
git clone --quiet --depth 1 --branch "$chart_ref" "$chart_url" "$work/helm-chart" 2>/dev/null

# 2. the values file (what the runbook edits by hand: image, registry credentials, environment)
cat >"$work/values.yaml" <<EOF
replicaCount: 2
images:
  gatewayImage:
    repository: docker.io/portkeyai/gateway_enterprise
    tag: "1.11.4"
imageCredentials:
  - name: portkeyenterpriseregistrycredentials
    create: true
    registry: https://index.docker.io/v1/
    username: lab-user
    password: "${PORTKEY_LAB_REGISTRY_PASSWORD:-lab-registry-password}"
    email: ""
environment:
  create: true
  secret: true
  data:
    SERVICE_NAME: "portkey-lab"
    PORTKEY_CLIENT_AUTH: "${PORTKEY_LAB_CLIENT_AUTH:-lab-client-auth}"
    ORGANISATIONS_TO_SYNC: "org-lab-0001"
    LOG_STORE: "s3"
    LOG_STORE_REGION: "us-east-1"
    LOG_STORE_GENERATIONS_BUCKET: "portkey-lab-logs"
    LOG_STORE_ACCESS_KEY: "${AWS_ACCESS_KEY_ID:-testing}"
    LOG_STORE_SECRET_KEY: "${AWS_SECRET_ACCESS_KEY:-testing}"
    CACHE_STORE: "redis"
    REDIS_URL: "redis://redis:6379"
    REDIS_TLS_ENABLED: "false"
    ANALYTICS_STORE: "control_plane"
service:
  type: LoadBalancer
  port: 8787
serviceAccount:
  create: true
autoRestart: false
EOF

# 3. helm upgrade --install
"$helm_bin" --kubeconfig "$kubeconfig" upgrade --install "$release" "$work/helm-chart/helm/enterprise" \
  --namespace "$namespace" --create-namespace -f "$work/values.yaml" --wait --timeout 60s >/dev/null

# 4. kubectl apply of the egress NetworkPolicy
"$kubectl_bin" --kubeconfig "$kubeconfig" apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-all-egress
  namespace: $namespace
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to:
        - ipBlock:
            cidr: 0.0.0.0/0
EOF
