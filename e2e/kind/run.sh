#!/usr/bin/env bash
# The users' end-to-end path on a laptop with Docker and kind: creates a kind cluster, builds the
# zab-node and zab-operator images from node/Dockerfile and operator/Dockerfile, loads them into
# kind, installs the operator with the Helm chart, applies operator/examples/minimal.yaml, runs
# the same numbered scenarios as the local e2e cluster (the zab-k8s-e2e runner, KUBECONFIG-driven)
# and deletes the cluster, also when something fails.
#
#   e2e/kind/run.sh                 # all scenarios
#   e2e/kind/run.sh t00 t10         # some
#   KEEP=1 e2e/kind/run.sh          # keep the cluster afterwards
#
# Needs: docker, kind, kubectl, helm, cargo. It cannot run on the project's CI machine (no
# privileged containers there); CI shellchecks it and runs the same scenarios on e2e/cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."

cluster=${KIND_CLUSTER:-zab-e2e}
tag=e2e
for tool in docker kind kubectl helm cargo; do
  command -v "$tool" >/dev/null || { echo "kind e2e: $tool is not on PATH; install it first" >&2; exit 2; }
done

kubeconfig=$(mktemp)
cleanup() {
  if [ -z "${KEEP:-}" ]; then
    kind delete cluster --name "$cluster" || true
  else
    echo "kept the kind cluster $cluster (KUBECONFIG=$kubeconfig); delete it with: kind delete cluster --name $cluster"
  fi
}
trap cleanup EXIT

kind create cluster --name "$cluster" --kubeconfig "$kubeconfig" --wait 120s
export KUBECONFIG=$kubeconfig

# Same repository and tag as the local cluster's images, so the same chart values apply.
docker build -f node/Dockerfile -t "localhost/zab-node:$tag" .
docker build -f operator/Dockerfile -t "localhost/zab-operator:$tag" .
kind load docker-image --name "$cluster" "localhost/zab-node:$tag" "localhost/zab-operator:$tag"

helm install zab-operator charts/zab-operator --namespace zab-system --create-namespace \
  -f e2e/cluster/values.yaml --wait --timeout 120s
kubectl apply -f operator/examples/minimal.yaml

cargo build --release -p zab-k8s-e2e
ZAB_E2E_NODE_IMAGE="localhost/zab-node:$tag" ./target/release/zab-k8s-e2e "${@:---all}"
