//! zab's Kubernetes scenarios as a library: the helpers every scenario uses (namespace
//! lifecycle, waiting with deadlines, diagnostics on failure, a ZooKeeper client through a
//! Service, members' `/status`, the manifests of a plain StatefulSet ensemble) and the
//! numbered scenarios themselves (`scenarios`, one file each). The `zab-k8s-e2e` binary runs
//! them against whatever cluster `KUBECONFIG` names (the local one from e2e/cluster/up.sh, kind,
//! any other).
//! Never: touch anything outside the namespace a scenario was given (cluster-scoped objects
//! only where a scenario says so), pull images, or wait without a deadline.

pub mod cluster;
pub mod diag;
pub mod ensemble;
pub mod member;
pub mod operator;
pub mod scenarios;
pub mod wait;
pub mod writer;
pub mod zk;
