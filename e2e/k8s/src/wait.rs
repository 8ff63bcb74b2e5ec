//! Waiting with deadlines: [`wait_for`] polls a check until it is done or its deadline passes,
//! and a timeout says what was last seen (the check's own words), so a failed wait explains
//! itself. Checks are cheap reads (API gets, one HTTP request); the poll interval is short.
//! Never: wait without a deadline, or swallow what the last poll saw.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// How often a check is polled.
pub const POLL: Duration = Duration::from_millis(500);

/// One poll's outcome: done with a value, or not yet (and what was seen instead).
pub enum Check<T> {
    Done(T),
    NotYet(String),
}

/// Polls `check` until it returns `Done` or `timeout` passes. A check that errs is polled
/// again (the API server or a member may be restarting); its error is the last seen state.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Check<T>>>,
{
    let started = Instant::now();
    let deadline = started + timeout;
    let mut last: String;
    loop {
        match check().await {
            Ok(Check::Done(v)) => {
                tracing::info!("{what}: done after {:.1}s", started.elapsed().as_secs_f64());
                return Ok(v);
            }
            Ok(Check::NotYet(seen)) => last = seen,
            Err(e) => last = format!("error: {e:#}"),
        }
        if Instant::now() >= deadline {
            bail!("timed out after {}s waiting for {what}; last seen: {last}", timeout.as_secs());
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}
