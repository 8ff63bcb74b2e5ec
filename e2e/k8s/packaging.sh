#!/usr/bin/env bash
# The packaging checks (issue 13) on a running cluster (KUBECONFIG; e2e/cluster/up.sh here):
#   1. static: helm lint; helm template with default and non-default values; every rendered
#      object and the examples parsed into their k8s-openapi types (parse-manifests) and
#      validated by the API server (server-side dry run); the kubectl
#      bundle and the CRD compared with what the chart and the operator generate.
#   2. helm: install (with the chart's ensemble option) -> the ensemble Available and serving
#      through its client Service -> helm upgrade to another operator image tag, no zab member
#      restarted -> helm uninstall, PVCs kept or deleted as the ensemble's retention policy says.
#   3. bundle: kubectl apply -f operator/deploy/zab-operator.yaml, then operator/examples/
#      minimal.yaml -> serving -> deleted again.
# Prints one line per check and `packaging: N passed, M failed` last; exit 1 on any failure.
# Needs helm, kubectl (the cluster's, first on PATH), python3-kazoo, target/release/zab-operator
# and target/release/parse-manifests (cargo build --release -p zab-operator -p zab-k8s-e2e),
# and the images localhost/zab-operator:{e2e,e2e-b} and localhost/zab-node:e2e in the cluster.
# PACKAGING_SCOPED=1 limits both operators to the namespaces this script uses (helm
# watchNamespaces; the bundle's Deployment gets ZAB_OPERATOR_WATCH_NAMESPACES), for a cluster
# where other scenarios run operators of their own at the same time; CI runs it unscoped.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

PY=/usr/bin/python3   # Debian's python: python3-kazoo and python3-yaml
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { echo "ok    $1"; passed=$((passed + 1)); }
bad() { echo "FAIL  $1"; failed=$((failed + 1)); }
check() { # name command...
  local name=$1; shift
  if "$@" >"$tmp/out" 2>&1; then ok "$name"; else bad "$name"; sed 's/^/      /' "$tmp/out" | tail -40; fi
}

# Polls CMD until it succeeds or SECONDS pass.
wait_for() { # seconds command...
  local deadline=$(($(date +%s) + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 1
  done
}

# Writes a znode through the ensemble's client Service and reads it back (kazoo, the real client).
serves() { # namespace service
  local ip
  ip=$(kubectl -n "$1" get service "$2" -o jsonpath='{.spec.clusterIP}') || return 1
  "$PY" - "$ip" <<'PY'
import sys, uuid
from kazoo.client import KazooClient
zk = KazooClient(hosts=f"{sys.argv[1]}:2181", timeout=10)
zk.start(timeout=20)
value = uuid.uuid4().hex.encode()
zk.ensure_path("/packaging")
zk.set("/packaging", value)
got, _ = zk.get("/packaging")
zk.stop(); zk.close()
sys.exit(0 if got == value else 1)
PY
}

available() { # namespace name
  [ "$(kubectl -n "$1" get zabensemble "$2" -o jsonpath='{.status.conditions[?(@.type=="Available")].status}')" = True ]
}

dump() { # namespace
  echo "      --- diagnostics for namespace $1"
  kubectl -n "$1" get zabensemble,statefulset,pod,pvc,event -o wide 2>&1 | sed 's/^/      /' | tail -60
  kubectl -n zab-system logs deployment/zab-operator --tail=60 2>&1 | sed 's/^/      /'
}

echo "== static checks"
check "helm lint" helm lint charts/zab-operator
check "helm template (defaults)" sh -c "helm template t charts/zab-operator --include-crds > '$tmp/default.yaml'"
check "helm template (non-default values)" sh -c "helm template t charts/zab-operator --include-crds -f e2e/k8s/values-nondefault.yaml > '$tmp/nondefault.yaml'"
for f in default nondefault; do
  check "typed parse: chart ($f values)" sh -c "target/release/parse-manifests < '$tmp/$f.yaml'"
done
for f in operator/deploy/zab-operator.yaml operator/examples/*.yaml; do
  check "typed parse: $f" sh -c "target/release/parse-manifests < '$f'"
done
check "CRD in the chart = crds/ = zab-operator crd" sh -c \
  'target/release/zab-operator crd | diff -u crds/zabensembles.zab.io.yaml - && diff -u crds/zabensembles.zab.io.yaml charts/zab-operator/crds/zabensembles.zab.io.yaml'
check "RBAC in the chart = zab-operator rbac" sh -c \
  'target/release/zab-operator rbac | diff -u charts/zab-operator/files/rbac-rules.yaml -'
check "kubectl bundle = chart rendering" env HELM=helm operator/deploy/generate.sh --check
check "CRD applied" kubectl apply --server-side -f crds/zabensembles.zab.io.yaml
check "CRD established" kubectl wait --for=condition=Established crd/zabensembles.zab.io --timeout=60s
for n in zab-dryrun team-a team-b; do kubectl create namespace $n >/dev/null 2>&1; done
for f in default nondefault; do
  # The ServiceMonitor needs the Prometheus Operator's CRD, which this cluster does not have.
  check "server-side dry run: chart ($f values)" sh -c \
    "sed 's/namespace: default/namespace: zab-dryrun/' '$tmp/$f.yaml' | $PY e2e/k8s/drop_kinds.py ServiceMonitor CustomResourceDefinition | kubectl apply --server-side --dry-run=server -f -"
done
for f in operator/examples/*.yaml; do
  check "server-side dry run: $f" sh -c "sed 's/namespace: .*/namespace: zab-dryrun/' '$f' | kubectl apply --server-side --dry-run=server -f -"
done
kubectl create namespace zab-system >/dev/null 2>&1   # a dry run creates no namespace for the rest
check "server-side dry run: bundle" kubectl apply --server-side --dry-run=server -f operator/deploy/zab-operator.yaml
kubectl delete namespace zab-dryrun team-a team-b --wait=false >/dev/null 2>&1

echo "== helm install -> serving -> helm upgrade (no member restarted) -> helm uninstall"
ns=zab-helm
scope=()
[ -n "${PACKAGING_SCOPED:-}" ] && scope=(--set "watchNamespaces={$ns}")
kubectl create namespace $ns >/dev/null 2>&1
check "helm install (operator and an ensemble, whenDeleted=Delete)" helm install zab-operator charts/zab-operator \
  --namespace zab-system --create-namespace -f e2e/cluster/values.yaml \
  --set ensemble.create=true --set ensemble.namespace=$ns --set ensemble.image=localhost/zab-node:e2e \
  --set ensemble.storage.whenDeleted=Delete "${scope[@]}" --wait --timeout 180s
if wait_for 240 available $ns zab; then ok "ensemble Available"; else bad "ensemble Available"; dump $ns; fi
check "ensemble serves through its client Service" wait_for 60 serves $ns zab
before=$(kubectl -n $ns get pods -l app.kubernetes.io/instance=zab -o jsonpath='{range .items[*]}{.metadata.uid}:{.status.containerStatuses[0].restartCount} {end}')
check "helm upgrade to operator image e2e-b" helm upgrade zab-operator charts/zab-operator --namespace zab-system \
  -f e2e/cluster/values.yaml --set image.tag=e2e-b --set ensemble.create=true --set ensemble.namespace=$ns \
  --set ensemble.image=localhost/zab-node:e2e --set ensemble.storage.whenDeleted=Delete "${scope[@]}" --wait --timeout 180s
check "operator runs e2e-b" sh -c "kubectl -n zab-system get deployment zab-operator -o jsonpath='{.spec.template.spec.containers[0].image}' | grep -qx 'localhost/zab-operator:e2e-b' && kubectl -n zab-system rollout status deployment/zab-operator --timeout=120s"
# Give the new operator a reconcile pass, then compare: same pods, no restarts.
wait_for 60 sh -c "kubectl -n zab-system logs deployment/zab-operator 2>/dev/null | grep -q reconcile" || true
after=$(kubectl -n $ns get pods -l app.kubernetes.io/instance=zab -o jsonpath='{range .items[*]}{.metadata.uid}:{.status.containerStatuses[0].restartCount} {end}')
if [ -n "$before" ] && [ "$before" = "$after" ]; then ok "no zab member restarted by the upgrade ($after)"; else bad "no zab member restarted by the upgrade (before: $before; after: $after)"; fi
check "still serving after the upgrade" serves $ns zab
check "helm uninstall" helm uninstall zab-operator --namespace zab-system --wait --timeout 180s
check "ensemble gone" wait_for 120 sh -c "! kubectl -n $ns get statefulset zab"
check "whenDeleted=Delete: the PVCs went with the ensemble" wait_for 120 sh -c "[ \$(kubectl -n $ns get pvc -o name | wc -l) -eq 0 ]"
kubectl delete namespace $ns --wait=true --timeout=120s >/dev/null 2>&1

echo "== kubectl apply -f the bundle -> operator/examples/minimal.yaml serving"
check "kubectl apply bundle" kubectl apply --server-side -f operator/deploy/zab-operator.yaml
kubectl -n zab-system set image deployment/zab-operator operator=localhost/zab-operator:e2e >/dev/null
mns=$("$PY" -c 'import sys,yaml; print(next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind")=="ZabEnsemble")["metadata"]["namespace"])' operator/examples/minimal.yaml)
[ -n "${PACKAGING_SCOPED:-}" ] && kubectl -n zab-system set env deployment/zab-operator "ZAB_OPERATOR_WATCH_NAMESPACES=$mns" >/dev/null
check "operator Deployment rolled out" kubectl -n zab-system rollout status deployment/zab-operator --timeout=180s
# The example as users apply it, with the image this cluster has (nothing can be pulled here).
check "apply minimal.yaml" sh -c "sed 's|image: zab-node:.*|image: localhost/zab-node:e2e|' operator/examples/minimal.yaml | kubectl apply -f -"
if wait_for 240 available "$mns" zab; then ok "minimal.yaml Available"; else bad "minimal.yaml Available"; dump "$mns"; fi
check "minimal.yaml serves" wait_for 60 serves "$mns" zab
check "delete the ZabEnsemble (default whenDeleted=Retain)" kubectl -n "$mns" delete zabensemble zab --wait=true --timeout=120s
check "its StatefulSet is gone" wait_for 120 sh -c "! kubectl -n $mns get statefulset zab"
pvcs=$(kubectl -n "$mns" get pvc -o name | wc -l)
if [ "$pvcs" -eq 3 ]; then ok "whenDeleted=Retain kept the 3 PVCs"; else bad "whenDeleted=Retain kept the 3 PVCs (found $pvcs)"; fi
kubectl delete namespace "$mns" --wait=true --timeout=120s >/dev/null 2>&1
check "kubectl delete bundle" kubectl delete -f operator/deploy/zab-operator.yaml --wait=true --timeout=180s

echo "packaging: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
