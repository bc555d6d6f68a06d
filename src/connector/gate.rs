//! Bounds on one identity source: how many calls to it may be in flight at once, how long a
//! call waits for a free slot, and how long a whole call may take. A source that hangs then
//! holds at most `maxInFlight` requests of Gantry's, fails the rest quickly with "not
//! answering", and cannot slow the other connectors or the token endpoint.
//!
//! Every call passes here, so here each is timed and counted by connector, operation and
//! outcome (`gantry_connector_call_duration_seconds`): the one place that sees a directory or
//! provider slow down or fail, whatever the caller then makes of it.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::Semaphore;

use super::ConnectorError;

/// Calls in flight per connector unless its entry says `maxInFlight`.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 64;
/// A call waits this long for a free slot before it is refused.
const WAIT_FOR_SLOT: Duration = Duration::from_secs(2);
/// A whole call (with failover across hosts and every operation) ends within this: below the
/// 30 s request timeout, so the user reads "not answering" rather than a bare timeout.
const CALL_WITHIN: Duration = Duration::from_secs(25);

/// Seconds a call to an identity source took: an LDAP bind is milliseconds, a provider's token
/// endpoint tens to hundreds, a source that hangs ends at `CALL_WITHIN`.
const CALL_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0,
];

/// The labels of one call. `operation` and `outcome` are fixed words; `connector` is the id
/// from the config or the admin API, a bounded set.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub connector: Arc<str>,
    pub operation: &'static str,
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct CallBuckets;

impl MetricConstructor<Histogram> for CallBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(CALL_BUCKETS)
    }
}

/// Every connector's calls, shared by the connectors of one server.
pub type ConnectorCalls = Family<CallLabels, Histogram, CallBuckets>;

pub fn connector_calls() -> ConnectorCalls {
    Family::new_with_constructor(CallBuckets)
}

/// What a call came to: `ok`, `refused` (the source answered no: wrong password, user gone,
/// a provider's refusal) or `error` (no usable answer: down, slow, full, malformed).
pub trait Judged {
    fn outcome(&self) -> &'static str {
        "ok"
    }
}

fn judge<T: Judged>(r: &Result<T, ConnectorError>) -> &'static str {
    match r {
        Ok(t) => t.outcome(),
        Err(ConnectorError::UserGone | ConnectorError::Ambiguous | ConnectorError::Rejected(_)) => {
            "refused"
        }
        Err(ConnectorError::Unavailable(_) | ConnectorError::Storage(_)) => "error",
    }
}

#[derive(Debug)]
struct Observer {
    connector: Arc<str>,
    calls: ConnectorCalls,
}

#[derive(Debug)]
pub struct Gate {
    slots: Semaphore,
    max: u32,
    /// Where calls are recorded, once the connector joins a server's set (a connector built
    /// only to check a config is never observed).
    observer: OnceLock<Observer>,
}

impl Gate {
    pub fn new(max: u32) -> Gate {
        Gate {
            slots: Semaphore::new(max.max(1) as usize),
            max: max.max(1),
            observer: OnceLock::new(),
        }
    }

    /// Record this gate's calls as `connector`'s into `calls`; the first call of this wins.
    pub fn observe(&self, connector: &str, calls: &ConnectorCalls) {
        let _ = self.observer.set(Observer {
            connector: connector.into(),
            calls: calls.clone(),
        });
    }

    /// Run `call` in a slot, within the call deadline, and record it as `operation`.
    pub async fn run<T: Judged>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, ConnectorError>>,
    ) -> Result<T, ConnectorError> {
        let started = Instant::now();
        let r = self.run_bounded(call).await;
        if let Some(o) = self.observer.get() {
            let labels = CallLabels {
                connector: o.connector.clone(),
                operation,
                outcome: judge(&r),
            };
            o.calls
                .get_or_create(&labels)
                .observe(started.elapsed().as_secs_f64());
        }
        r
    }

    async fn run_bounded<T>(
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

    impl Judged for i32 {}

    #[tokio::test]
    async fn a_full_gate_refuses_after_waiting_and_frees_its_slot_when_a_call_ends() {
        let gate = std::sync::Arc::new(Gate::new(1));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let held = {
            let gate = gate.clone();
            tokio::spawn(async move {
                gate.run("test", async {
                    let _ = rx.await;
                    Ok::<_, ConnectorError>(1)
                })
                .await
            })
        };
        tokio::task::yield_now().await;
        let refused = gate.run("test", async { Ok::<_, ConnectorError>(2) }).await;
        assert!(
            matches!(refused, Err(ConnectorError::Unavailable(ref m)) if m.contains("maxInFlight")),
            "{refused:?}"
        );
        let _ = tx.send(());
        assert_eq!(held.await.unwrap().unwrap(), 1);
        assert_eq!(
            gate.run("test", async { Ok::<_, ConnectorError>(3) })
                .await
                .unwrap(),
            3
        );
    }
}
