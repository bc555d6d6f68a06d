//! Providers found at start or after an admin's change: discovery retried in the background,
//! with backoff, while the provider is down.

use std::time::Duration;

use super::Connector;

/// Discover a connector's provider, retrying with backoff while it is down: Gantry serves
/// its other connectors meanwhile, and a login through this one retries discovery itself.
/// Stops when the connector is gone (an admin replaced or deleted it).
pub async fn warm_up(connector: std::sync::Weak<Connector>) {
    let mut attempt = 0u32;
    loop {
        let Some(c) = connector.upgrade() else {
            return;
        };
        let wait = retry_wait(attempt, jitter());
        match c.warm_up().await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(connector = %c.id(), error = %e, retry_in = ?wait, "provider discovery failed");
            }
        }
        drop(c);
        tokio::time::sleep(wait).await;
        attempt = attempt.saturating_add(1);
    }
}

/// Longest wait between two discovery attempts.
const RETRY_CAP: Duration = Duration::from_secs(300);

/// The wait after failed attempt `attempt` (0 first): 1 s doubling up to [`RETRY_CAP`], of which
/// the upper half is scaled by `jitter` in [0, 1) so that replicas started together do not
/// fetch from a provider in lockstep (a broken or hostile one is not hammered by all at once).
fn retry_wait(attempt: u32, jitter: f64) -> Duration {
    let full = Duration::from_secs(1u64 << attempt.min(16)).min(RETRY_CAP);
    full / 2 + (full / 2).mul_f64(jitter.clamp(0.0, 1.0))
}

/// A number in [0, 1) for [`retry_wait`].
fn jitter() -> f64 {
    let b = crate::secret::random_bytes(2);
    f64::from(u16::from_le_bytes([b[0], b[1]])) / 65536.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_retries_back_off_from_one_second_to_five_minutes_with_jitter() {
        let secs = |a, j| retry_wait(a, j).as_secs_f64();
        // Without jitter's upper half: 1, 2, 4, ... capped at 300 s.
        let top: Vec<f64> = (0..12).map(|a| secs(a, 0.999_999)).collect();
        for (a, want) in [
            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0, 300.0,
        ]
        .iter()
        .enumerate()
        {
            assert!((top[a] - want).abs() < 0.01, "attempt {a}: {}", top[a]);
        }
        assert_eq!(retry_wait(0, 0.0), Duration::from_millis(500));
        assert_eq!(retry_wait(20, 0.0), Duration::from_secs(150));
        assert_eq!(retry_wait(u32::MAX, 0.5), Duration::from_secs(225));
        // Jitter stays within the upper half, whatever the random source says.
        assert_eq!(retry_wait(3, 7.0), Duration::from_secs(8));
        assert_eq!(retry_wait(3, -1.0), Duration::from_secs(4));
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
