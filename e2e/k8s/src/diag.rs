//! What a failed scenario leaves for whoever reads the CI log: the namespace's events in time
//! order, every pod's phase and container states, every container's log (and the previous
//! one's after a restart), the PVCs, and the `/status` of every member (every pod that exposes
//! the admin port). Written to stderr; every read is bounded and a failed read is reported,
//! never fatal.
//! Never: change anything in the cluster.

use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod};
use kube::api::{ListParams, LogParams};
use kube::{Api, Client};

use crate::member;

/// Lines of each container log printed.
const LOG_TAIL: i64 = 300;

/// Prints everything useful about namespace `ns` to stderr.
pub async fn dump_diagnostics(client: &Client, ns: &str) {
    eprintln!("===== diagnostics of namespace {ns} =====");
    events(client, ns).await;
    let pods = match Api::<Pod>::namespaced(client.clone(), ns).list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) => {
            eprintln!("--- pods: cannot list: {e}");
            Vec::new()
        }
    };
    for pod in &pods {
        pod_state(pod);
    }
    pvcs(client, ns).await;
    for pod in &pods {
        logs(client, ns, pod).await;
    }
    for pod in &pods {
        admin_status(pod).await;
    }
    eprintln!("===== end of diagnostics of {ns} =====");
}

async fn events(client: &Client, ns: &str) {
    let mut list = match Api::<Event>::namespaced(client.clone(), ns).list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) => return eprintln!("--- events: cannot list: {e}"),
    };
    let when = |e: &Event| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
            .unwrap_or_default()
    };
    list.sort_by_key(when);
    eprintln!("--- events ({})", list.len());
    for e in &list {
        eprintln!(
            "{} {} {} {}/{} x{}: {}",
            when(e),
            e.type_.as_deref().unwrap_or("-"),
            e.reason.as_deref().unwrap_or("-"),
            e.involved_object.kind.as_deref().unwrap_or("-"),
            e.involved_object.name.as_deref().unwrap_or("-"),
            e.count.unwrap_or(1),
            e.message.as_deref().unwrap_or("").trim_end()
        );
    }
}

fn pod_state(pod: &Pod) {
    let name = pod.metadata.name.as_deref().unwrap_or("?");
    let status = pod.status.clone().unwrap_or_default();
    eprintln!(
        "--- pod {name}: phase {} ip {} node {}",
        status.phase.as_deref().unwrap_or("-"),
        status.pod_ip.as_deref().unwrap_or("-"),
        pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or("-")
    );
    for c in status.conditions.unwrap_or_default() {
        eprintln!("    condition {}={} {}", c.type_, c.status, c.message.unwrap_or_default());
    }
    for c in status.container_statuses.unwrap_or_default() {
        eprintln!(
            "    container {} ready={} restarts={} state={} last={}",
            c.name,
            c.ready,
            c.restart_count,
            serde_json::to_string(&c.state).unwrap_or_default(),
            serde_json::to_string(&c.last_state).unwrap_or_default()
        );
    }
}

async fn pvcs(client: &Client, ns: &str) {
    match Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns).list(&ListParams::default()).await {
        Ok(l) => {
            for pvc in l.items {
                eprintln!(
                    "--- pvc {}: phase {} volume {}",
                    pvc.metadata.name.unwrap_or_default(),
                    pvc.status.and_then(|s| s.phase).unwrap_or_default(),
                    pvc.spec.and_then(|s| s.volume_name).unwrap_or_default()
                );
            }
        }
        Err(e) => eprintln!("--- pvcs: cannot list: {e}"),
    }
}

async fn logs(client: &Client, ns: &str, pod: &Pod) {
    let api = Api::<Pod>::namespaced(client.clone(), ns);
    let name = pod.metadata.name.as_deref().unwrap_or("?");
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
    for c in statuses {
        let mut runs = vec![false];
        if c.restart_count > 0 {
            runs.insert(0, true);
        }
        for previous in runs {
            let params = LogParams {
                container: Some(c.name.clone()),
                tail_lines: Some(LOG_TAIL),
                previous,
                ..LogParams::default()
            };
            let which = if previous { "previous log" } else { "log" };
            match api.logs(name, &params).await {
                Ok(text) => {
                    eprintln!("--- {which} of {name}/{} (last {LOG_TAIL} lines)", c.name);
                    eprint!("{text}");
                    if !text.ends_with('\n') {
                        eprintln!();
                    }
                }
                Err(e) => eprintln!("--- {which} of {name}/{}: cannot read: {e}", c.name),
            }
        }
    }
}

async fn admin_status(pod: &Pod) {
    let name = pod.metadata.name.as_deref().unwrap_or("?");
    let has_admin = pod.spec.as_ref().is_some_and(|s| {
        s.containers.iter().any(|c| c.ports.iter().flatten().any(|p| p.container_port == i32::from(member::ADMIN_PORT)))
    });
    let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone());
    match (has_admin, ip) {
        (false, _) => {}
        (true, None) => eprintln!("--- /status of {name}: pod has no IP"),
        (true, Some(ip)) => match member::get(&ip, "/status").await {
            Ok((code, body)) => eprintln!("--- /status of {name} ({ip}): HTTP {code}\n{body}"),
            Err(e) => eprintln!("--- /status of {name} ({ip}): {e:#}"),
        },
    }
}
