#!/usr/bin/env bash
# e2e/cluster/build.sh — builds the local cluster's binaries from the Go module proxy, once per
# machine, into ${ZAB_CACHE_DIR:-$HOME/.cache/zab}/k8s-v1.37.2/bin:
#   kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl (k8s.io/kubernetes
#   v1.37.2 through a wrapper module whose `replace` lines pin every staging module at v0.37.2, the
#   list read from kubernetes' own go.mod), coredns v1.14.7 (a main importing only the plugins our
#   Corefile uses), helm v4.3.2, and the pause program (e2e/cluster/pause/pause.c, gcc -static).
# A binary already in the cache is not rebuilt (a warm run takes seconds). Builds run at nice 10
# with a private GOCACHE that is removed afterwards (it grows to several GB); the module cache is
# kept under the cache dir. Called by up.sh; safe to run by hand.
# Never: download anything but Go modules (proxy) and never write outside the cache dir.
set -euo pipefail

K8S_VERSION=v1.37.2
STAGING_VERSION=v0.37.2
COREDNS_VERSION=v1.14.7
HELM_VERSION=v4.3.2

here=$(cd "$(dirname "$0")" && pwd)
cache=${ZAB_CACHE_DIR:-$HOME/.cache/zab}
root=$cache/k8s-$K8S_VERSION
bin=$root/bin
work=$root/build
mkdir -p "$bin" "$work"
# One build at a time (up.sh and a hand-run build.sh share the work dir).
exec 9>"$root/.build.lock"
flock 9

export GOMODCACHE=$cache/go/mod
export GOCACHE=$root/go-build
export GOTOOLCHAIN=local
export GOFLAGS="-modcacherw -buildvcs=false"
export CGO_ENABLED=0

log() { printf '[build.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

command -v go >/dev/null || { log "go not found: install Go >= 1.25 (https://go.dev/dl) and retry"; exit 1; }

k8s_components=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

# --- the pause program (the sandbox image's only content) -----------------------------------
pause_src=$here/pause/pause.c
if [[ ! -x $bin/pause || $pause_src -nt $bin/pause ]]; then
    command -v gcc >/dev/null || { log "gcc not found: apt-get install gcc libc6-dev"; exit 1; }
    gcc -static -Os -Wall -Wextra -Werror -o "$bin/pause.tmp" "$pause_src"
    strip "$bin/pause.tmp" 2>/dev/null || true
    mv "$bin/pause.tmp" "$bin/pause"
    log "built pause"
fi

# Copies the replace directives of an upstream go.mod that point at module versions (not local
# paths) into the wrapper module in the current directory, so the build sees what upstream pins.
copy_version_replaces() {
    local upstream_mod=$1
    go mod edit -json "$upstream_mod" |
        jq -r '(.Replace // [])[] | select(.New.Version != null)
               | "\(.Old.Path)\(if .Old.Version then "@"+.Old.Version else "" end)=\(.New.Path)@\(.New.Version)"' |
        while read -r r; do go mod edit -replace="$r"; done
}

mod_file() { # module version -> path of its go.mod in the module cache (after download)
    go mod download -json "$1@$2" | jq -r .GoMod
}

# wrapper_module NAME MODULE VERSION: a fresh module in $work/NAME (now the current directory)
# that requires MODULE@VERSION with the module's own version replaces.
wrapper_module() {
    rm -rf "${work:?}/$1"; mkdir -p "$work/$1"; cd "$work/$1"
    go mod init "zab.local/$1-build" >/dev/null 2>&1
    go mod edit -require="$2@$3"
    copy_version_replaces "$(mod_file "$2" "$3")"
}

# --- Kubernetes -------------------------------------------------------------------------------
missing=()
for c in "${k8s_components[@]}"; do [[ -x $bin/$c ]] || missing+=("$c"); done
if ((${#missing[@]})); then
    log "building ${missing[*]} $K8S_VERSION (cold: ~15-20 min)"
    d=$work/kubernetes
    rm -rf "$d"; mkdir -p "$d"; cd "$d"
    go mod init zab.local/k8s-build >/dev/null 2>&1
    k8s_mod=$(mod_file k8s.io/kubernetes "$K8S_VERSION")
    go mod edit -require="k8s.io/kubernetes@$K8S_VERSION"
    # Every staging module kubernetes replaces with ./staging/src/k8s.io/X gets the tagged X.
    staging=$(go mod edit -json "$k8s_mod" |
        jq -r '.Replace[] | select(.New.Path | startswith("./staging/")) | .Old.Path')
    [[ -n $staging ]] || { log "no staging modules found in $k8s_mod"; exit 1; }
    n=0
    for m in $staging; do go mod edit -replace="$m=$m@$STAGING_VERSION"; n=$((n + 1)); done
    copy_version_replaces "$k8s_mod"
    log "wrapper module: k8s.io/kubernetes $K8S_VERSION with $n staging replaces"
    minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
    ldflags="-s -w"
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
        ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
    done
    pkgs=(); for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
    out=$work/out-k8s; rm -rf "$out"; mkdir -p "$out"
    nice -n 10 go build -mod=mod -trimpath -ldflags "$ldflags" -o "$out/" "${pkgs[@]}"
    for c in "${missing[@]}"; do mv "$out/$c" "$bin/$c"; done
    rmdir "$out"
    log "built ${missing[*]}"
fi

# --- CoreDNS: only the plugins up.sh's Corefile names ------------------------------------------
if [[ ! -x $bin/coredns ]]; then
    log "building coredns $COREDNS_VERSION (cold: ~2 min)"
    wrapper_module coredns github.com/coredns/coredns "$COREDNS_VERSION"
    cat >main.go <<'EOF'
// A CoreDNS with only the plugins the local cluster's Corefile uses (bind, errors, health, ready,
// kubernetes); core/plugin (which imports all of them) is deliberately not imported.
package main

import (
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"

	"github.com/coredns/coredns/coremain"
)

func main() { coremain.Run() }
EOF
    nice -n 10 go build -mod=mod -trimpath -ldflags "-s -w" -o "$work/coredns.tmp" .
    mv "$work/coredns.tmp" "$bin/coredns"
    log "built coredns"
fi

# --- helm ---------------------------------------------------------------------------------------
if [[ ! -x $bin/helm ]]; then
    log "building helm $HELM_VERSION (cold: ~6 min)"
    wrapper_module helm helm.sh/helm/v4 "$HELM_VERSION"
    nice -n 10 go build -mod=mod -trimpath \
        -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
        -o "$work/helm.tmp" helm.sh/helm/v4/cmd/helm
    mv "$work/helm.tmp" "$bin/helm"
    log "built helm"
fi

# --- tidy up: the build cache is GBs and only useful for a rebuild -----------------------------
if [[ -d $GOCACHE ]]; then
    size_mb=$(du -sm "$GOCACHE" | cut -f1)
    if ((size_mb > 200)); then
        log "removing Go build cache $GOCACHE (${size_mb} MB)"
        go clean -cache
        rm -rf "$GOCACHE"
    fi
fi
rm -rf "$work"
echo "$bin"
