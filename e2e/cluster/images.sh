#!/usr/bin/env bash
# e2e/cluster/images.sh [TAG...] — builds the images the local cluster runs, without a Docker
# daemon or registry, and imports them into the cluster's containerd (when it is running):
#   localhost/zab-node:TAG      (cargo build --release -p zab-node)
#   localhost/zab-operator:TAG  (only when the workspace has the zab-operator package)
#   localhost/pause:zab         (the pod sandbox: build.sh's static pause program)
# Default TAG: e2e. Each image is what node/Dockerfile and operator/Dockerfile make on their
# distroless base: the binary at /usr/local/bin, the shared libraries `ldd` names and the dynamic
# loader, CA certificates, /etc/passwd and /etc/group with nonroot (65532), /tmp, /home/nonroot;
# User 65532, the Dockerfile's Entrypoint, ExposedPorts, Volumes and org.opencontainers labels.
# Layers are made reproducibly (sorted names, mtime 0, gzip -n), so an unchanged binary gives the
# same digest and the import is skipped. OCI archives are cached in $ZAB_CACHE_DIR/images.
# Never: pull or push anything.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=e2e/cluster/lib.sh
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)
tags=("$@")
((${#tags[@]})) || tags=(e2e)
out=$ZAB_CACHE_DIR/images
mkdir -p "$out"

cd "$repo"
packages=(zab-node)
if cargo metadata --no-deps --format-version 1 2>/dev/null |
    jq -e '.packages[] | select(.name == "zab-operator")' >/dev/null; then
    packages+=(zab-operator)
fi
cargo_args=()
for p in "${packages[@]}"; do cargo_args+=(-p "$p"); done
log "cargo build --release ${cargo_args[*]}"
cargo build --release --locked "${cargo_args[@]}" >&2
version=$(cargo metadata --no-deps --format-version 1 |
    jq -r '.packages[] | select(.name == "zab-node") | .version')

sha() { sha256sum "$1" | cut -d' ' -f1; }

# blob FILE LAYOUT: moves FILE into LAYOUT/blobs/sha256/<digest>, prints the digest.
blob() {
    local d; d=$(sha "$1")
    mv "$1" "$2/blobs/sha256/$d"
    echo "$d"
}

# add_with_libs ROOTFS BINARY: the binary's shared libraries (as ldd resolves them on this host)
# and the dynamic loader, each at the path the binary will look for it.
add_with_libs() {
    local rootfs=$1 bin=$2 lib
    ldd "$bin" >/dev/null 2>&1 || return 0 # static
    while read -r lib; do
        [[ -n $lib && -f $lib ]] || continue
        install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
    done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
}

# base_files ROOTFS: what the distroless base gives: users, groups, /tmp, CA certificates.
base_files() {
    local r=$1
    install -d -m 0755 "$r/etc" "$r/home"
    install -d -m 1777 "$r/tmp"
    install -d -m 0700 -o "$NONROOT_UID" -g "$NONROOT_UID" "$r/home/nonroot"
    cat >"$r/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:$NONROOT_UID:$NONROOT_UID:nonroot:/home/nonroot:/sbin/nologin
EOF
    cat >"$r/etc/group" <<EOF
root:x:0:
nogroup:x:65534:
nonroot:x:$NONROOT_UID:
EOF
    echo "hosts: files dns" >"$r/etc/nsswitch.conf"
    chmod 0644 "$r/etc/passwd" "$r/etc/group" "$r/etc/nsswitch.conf"
    if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
        install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
    fi
}

# make_image NAME TAG ROOTFS CONFIG_JSON: writes $out/NAME-TAG.oci.tar (an OCI image layout
# with one layer), prints the manifest digest.
make_image() {
    local name=$1 tag=$2 rootfs=$3 config=$4
    local ref=localhost/$name:$tag
    local layout; layout=$(mktemp -d)
    mkdir -p "$layout/blobs/sha256"
    (cd "$rootfs" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort >"$layout/files")
    tar -C "$rootfs" --no-recursion --numeric-owner --mtime=@0 -cf "$layout/layer.tar" \
        -T "$layout/files"
    rm "$layout/files"
    local diff_id; diff_id=$(sha "$layout/layer.tar")
    gzip -n -6 "$layout/layer.tar"
    local layer_size; layer_size=$(stat -c %s "$layout/layer.tar.gz")
    local layer; layer=$(blob "$layout/layer.tar.gz" "$layout")
    jq -c --arg d "sha256:$diff_id" '. + {rootfs: {type: "layers", diff_ids: [$d]},
        history: [{created: "1970-01-01T00:00:00Z", created_by: "e2e/cluster/images.sh"}]}' \
        <<<"$config" >"$layout/config.json"
    local config_size; config_size=$(stat -c %s "$layout/config.json")
    local cfg; cfg=$(blob "$layout/config.json" "$layout")
    jq -cn --arg cfg "sha256:$cfg" --argjson cs "$config_size" --arg l "sha256:$layer" \
        --argjson ls "$layer_size" --argjson labels "$(jq -c '.config.Labels // {}' <<<"$config")" '{
        schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cfg, size: $cs},
        layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $l, size: $ls}],
        annotations: $labels}' >"$layout/manifest.json"
    local manifest_size; manifest_size=$(stat -c %s "$layout/manifest.json")
    local manifest; manifest=$(blob "$layout/manifest.json" "$layout")
    jq -cn --arg m "sha256:$manifest" --argjson ms "$manifest_size" --arg ref "$ref" --arg tag "$tag" '{
        schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m,
          size: $ms, platform: {architecture: "amd64", os: "linux"},
          annotations: {"io.containerd.image.name": $ref, "org.opencontainers.image.ref.name": $tag}}]}' \
        >"$layout/index.json"
    echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
    tar -C "$layout" --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 \
        -cf "$out/$name-$tag.oci.tar.tmp" oci-layout index.json blobs
    mv "$out/$name-$tag.oci.tar.tmp" "$out/$name-$tag.oci.tar"
    rm -rf "$layout"
    echo "sha256:$manifest"
}

# import NAME TAG DIGEST: into the cluster's containerd, unless it already has that digest.
import() {
    local ref=localhost/$1:$2 digest=$3
    if [[ ! -S $CONTAINERD_SOCK ]]; then
        log "$ref $digest built ($out/$1-$2.oci.tar); cluster not running, not imported"
        return 0
    fi
    local have; have=$(ctr_ images ls "name==$ref" 2>/dev/null | awk 'NR > 1 {print $3}')
    if [[ $have == "$digest" ]]; then
        log "$ref $digest already imported"
        return 0
    fi
    ctr_ images import "$out/$1-$2.oci.tar" >/dev/null
    have=$(ctr_ images ls "name==$ref" | awk 'NR > 1 {print $3}')
    [[ $have == "$digest" ]] || die "import of $ref gave digest '$have', expected $digest"
    log "$ref $digest imported"
}

labels() { # TITLE DESCRIPTION
    jq -cn --arg t "$1" --arg d "$2" --arg v "$version" '{
        "org.opencontainers.image.title": $t, "org.opencontainers.image.description": $d,
        "org.opencontainers.image.version": $v, "org.opencontainers.image.licenses": "Apache-2.0"}'
}

image_config() { # USER ENTRYPOINT PORTS_JSON VOLUMES_JSON LABELS_JSON
    jq -cn --arg u "$1" --arg e "$2" --argjson p "$3" --argjson v "$4" --argjson l "$5" '{
        created: "1970-01-01T00:00:00Z", architecture: "amd64", os: "linux",
        config: {User: $u, Entrypoint: [$e], ExposedPorts: $p, Volumes: $v, Labels: $l,
          WorkingDir: "/",
          Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"]}}'
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# pause: the static program alone, as kubernetes' pause image (uid 65535).
[[ -x $K8S_BIN/pause ]] || "$here/build.sh" >/dev/null
install -D -m 0755 "$K8S_BIN/pause" "$work/pause/pause"
pause_cfg=$(image_config 65535:65535 /pause '{}' '{}' \
    "$(jq -cn '{"org.opencontainers.image.title": "pause", "org.opencontainers.image.description": "zab e2e pod sandbox (e2e/cluster/pause/pause.c)"}')")
d=$(make_image pause zab "$work/pause" "$pause_cfg")
import pause zab "$d"

for p in "${packages[@]}"; do
    rootfs=$work/$p
    base_files "$rootfs"
    install -D -m 0755 "target/release/$p" "$rootfs/usr/local/bin/$p"
    add_with_libs "$rootfs" "target/release/$p"
    if [[ $p == zab-node ]]; then
        cfg=$(image_config "$NONROOT_UID:$NONROOT_UID" /usr/local/bin/zab-node \
            '{"2181/tcp":{},"2888/tcp":{},"3888/tcp":{},"8080/tcp":{}}' '{"/data":{}}' \
            "$(labels zab-node "A ZooKeeper 3.8 compatible coordination server")")
    else
        cfg=$(image_config "$NONROOT_UID:$NONROOT_UID" /usr/local/bin/zab-operator \
            '{"8081/tcp":{}}' '{}' \
            "$(labels zab-operator "The Kubernetes operator for zab ensembles (ZabEnsemble)")")
    fi
    # The image must run: its binary starts with only the libraries copied in.
    chroot --userspec="$NONROOT_UID:$NONROOT_UID" "$rootfs" "/usr/local/bin/$p" --help >/dev/null ||
        die "$p does not start inside its image root (missing library?)"
    for tag in "${tags[@]}"; do
        # Same binary, same scripts, same tag: the cached archive is this image already.
        key=$(cat "target/release/$p" "$0" "$here/lib.sh" <(echo "$tag $cfg") | sha256sum | cut -d' ' -f1)
        archive=$out/$p-$tag.oci.tar
        if [[ -f $archive && -f $archive.key && $(<"$archive.key") == "$key" ]]; then
            d=$(tar -xOf "$archive" index.json | jq -r '.manifests[0].digest')
        else
            d=$(make_image "$p" "$tag" "$rootfs" "$cfg")
            echo "$key" >"$archive.key"
        fi
        import "$p" "$tag" "$d"
    done
done
