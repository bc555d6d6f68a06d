//! Bounds on one identity source: how many calls to it may be in flight at once, how long a
//! call waits for a free slot, and how long a whole call may take. A source that hangs then
//! holds at most `maxInFlight` requests of Gantry's, fails the rest quickly with "not
//! answering", and cannot slow the other connectors or the token endpoint.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::ConnectorError;

/// Calls in flight per connector unless its entry says `maxInFlight`.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 64;
/// A call waits this long for a free slot before it is refused.
const WAIT_FOR_SLOT: Duration = Duration::from_secs(2);
/// A whole call (with failover across hosts and every operation) ends within this: below the
/// 30 s request timeout, so the user reads "not answering" rather than a bare timeout.
const CALL_WITHIN: Duration = Duration::from_secs(25);

#[derive(Debug)]
pub struct Gate {
    slots: Semaphore,
    max: u32,
}

impl Gate {
    pub fn new(max: u32) -> Gate {
        Gate {
            slots: Semaphore::new(max.max(1) as usize),
            max: max.max(1),
        }
    }

    /// Run `call` in a slot, within the call deadline.
    pub async fn run<T>(
        &self,
        call: impl Future<Output = Result<T, ConnectorError>>,
    ) -> Result<T, ConnectorError> {
        let _slot = match tokio::time::timeout(WAIT_FOR_SLOT, self.slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            _ => {
                return Err(ConnectorError::Unavailable(format!(
                    "{} calls to this identity source are already in progress (maxInFlight)",
                    self.max
                )));
            }
        };
        tokio::time::timeout(CALL_WITHIN, call)
            .await
            .unwrap_or_else(|_| {
                Err(ConnectorError::Unavailable(format!(
                    "no answer within {} s",
                    CALL_WITHIN.as_secs()
                )))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_gate_refuses_after_waiting_and_frees_its_slot_when_a_call_ends() {
        let gate = std::sync::Arc::new(Gate::new(1));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let held = {
            let gate = gate.clone();
            tokio::spawn(async move {
                gate.run(async {
                    let _ = rx.await;
                    Ok::<_, ConnectorError>(1)
                })
                .await
            })
        };
        tokio::task::yield_now().await;
        let refused = gate.run(async { Ok::<_, ConnectorError>(2) }).await;
        assert!(
            matches!(refused, Err(ConnectorError::Unavailable(ref m)) if m.contains("maxInFlight")),
            "{refused:?}"
        );
        let _ = tx.send(());
        assert_eq!(held.await.unwrap().unwrap(), 1);
        assert_eq!(
            gate.run(async { Ok::<_, ConnectorError>(3) })
                .await
                .unwrap(),
            3
        );
    }
}
