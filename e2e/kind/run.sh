#!/usr/bin/env bash
# The users' end-to-end path on a laptop with Docker and kind: creates a kind cluster, builds the
# zab-node and zab-operator images from node/Dockerfile and operator/Dockerfile, loads them into
# kind, runs the same numbered scenarios as the local e2e cluster (the zab-k8s-e2e runner,
# KUBECONFIG-driven) and the same packaging checks (helm install of the chart, the example
# ensemble serving, helm upgrade, helm uninstall, the kubectl bundle: e2e/k8s/packaging.sh), and
# deletes the cluster, also when something fails.
#
#   e2e/kind/run.sh                 # all scenarios
#   e2e/kind/run.sh t00 t10         # some
#   KEEP=1 e2e/kind/run.sh          # keep the cluster afterwards
#
# Needs: a Linux host with docker, kind, kubectl, helm, cargo, ip (iproute2) and sudo, and
# python3 with kazoo and yaml (packaging.sh's client). The scenarios reach pods and Services
# directly, as on the local e2e cluster, so the script routes kind's pod and Service networks
# through the kind node's container address for the run (removed afterwards); Docker Desktop on
# macOS has no such route. It cannot run on the project's CI machine (no privileged containers
# there); CI shellchecks it and runs the same scenarios and packaging.sh on e2e/cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."

cluster=${KIND_CLUSTER:-zab-e2e}
tag=e2e
for tool in docker kind kubectl helm cargo ip sudo; do
  command -v "$tool" >/dev/null || { echo "kind e2e: $tool is not on PATH; install it first" >&2; exit 2; }
done

kubeconfig=$(mktemp)
routes=()
cleanup() {
  for r in "${routes[@]}"; do sudo ip route del "$r" || true; done
  if [ -z "${KEEP:-}" ]; then
    kind delete cluster --name "$cluster" || true
  else
    echo "kept the kind cluster $cluster (KUBECONFIG=$kubeconfig); delete it with: kind delete cluster --name $cluster"
  fi
}
trap cleanup EXIT

kind create cluster --name "$cluster" --kubeconfig "$kubeconfig" --wait 120s
export KUBECONFIG=$kubeconfig
node_ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$cluster-control-plane")
for net in 10.244.0.0/16 10.96.0.0/16; do   # kind's default pod and Service networks
  sudo ip route add "$net" via "$node_ip"
  routes+=("$net")
done

# Same repository and tag as the local cluster's images, so the same chart values apply.
docker build -f node/Dockerfile -t "localhost/zab-node:$tag" .
docker build -f operator/Dockerfile -t "localhost/zab-operator:$tag" .
# A second tag of each: t50 changes a running ensemble's image, packaging.sh the operator's.
docker tag "localhost/zab-node:$tag" "localhost/zab-node:$tag-b"
docker tag "localhost/zab-operator:$tag" "localhost/zab-operator:$tag-b"
kind load docker-image --name "$cluster" "localhost/zab-node:$tag" "localhost/zab-node:$tag-b" \
  "localhost/zab-operator:$tag" "localhost/zab-operator:$tag-b"

# As in .ci/run: the numbered scenarios (each runs its own operator in its own namespace), then
# the packaging checks (helm install of the chart with e2e/cluster/values.yaml, the example,
# helm upgrade, helm uninstall, the kubectl bundle).
cargo build --release -p zab-operator -p zab-k8s-e2e
rc=0
./target/release/zab-k8s-e2e "${@:---all}" || rc=1
bash e2e/k8s/packaging.sh || rc=1
exit $rc
