//! t50 (issue 12): an image change rolls the ensemble like a config change: one member at a
//! time (never two replaced at once), the leader last after a hand-over, under a continuous writer; every
//! member ends on the new image. The second image is the same zab-node under another tag
//! (`e2e/cluster/images.sh e2e e2e-b` imports both).
//! Never: start the roll when the second image is not on the node (it cannot be pulled here).

use std::time::Duration;

use anyhow::{bail, ensure, Result};
use k8s_openapi::api::core::v1::Node;
use kube::Api;

use crate::cluster::Ctx;
use crate::operator::{self, Unavailability};

const ROLL: Duration = Duration::from_secs(600);

/// The second tag of the node image (`...:e2e` -> `...:e2e-b`).
fn second_image(image: &str) -> String {
    std::env::var("ZAB_E2E_NODE_IMAGE_B").unwrap_or_else(|_| format!("{image}-b"))
}

pub async fn run(ctx: Ctx) -> Result<()> {
    let image_b = second_image(&ctx.node_image);
    let nodes = Api::<Node>::all(ctx.client.clone()).list(&Default::default()).await?;
    let present = nodes.items.iter().any(|n| {
        n.status.as_ref().and_then(|s| s.images.as_ref()).is_some_and(|imgs| {
            imgs.iter().any(|i| {
                i.names
                    .as_ref()
                    .is_some_and(|names| names.iter().any(|x| x == &image_b || x.ends_with(&format!("/{image_b}"))))
            })
        })
    });
    if !present {
        bail!("image {image_b} is not on any node: run e2e/cluster/images.sh e2e e2e-b (or set ZAB_E2E_NODE_IMAGE_B)");
    }
    let (_, writer) = operator::settled_with_writer(&ctx, 2000, "/t50").await?;
    let sampler = Unavailability::start(&ctx, "zk", 3);
    operator::apply_ensemble(&ctx, "zk", operator::three_members(&image_b, 2000)).await?;
    let after = operator::wait_settled(&ctx, "zk", 3, ROLL).await?;
    let worst = sampler.finish().await?;
    let report = writer.finish().await?;
    let st = after.status.clone().unwrap_or_default();
    ensure!(st.current_image.as_deref() == Some(image_b.as_str()), "members run {:?}, not {image_b}", st.current_image);
    let evs = operator::events(&ctx.client, &ctx.ns, "zk").await?;
    operator::leader_last_after_handover(&evs)?;
    ensure!(worst <= 1, "{worst} members were being replaced at once");
    ensure!(report.lost == 0 && report.session_expired == 0, "writer: {report}");
    println!("t50 image change: {report}; at most {worst} member replaced at once");
    Ok(())
}
