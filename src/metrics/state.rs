//! What the server holds now, read at each scrape: the database pools' connections and the
//! age of the key that signs. Nothing here is kept between scrapes.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::clock::SharedClock;
use crate::keys::Keys;
use crate::storage::Db;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnLabels {
    pool: &'static str,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlgLabels {
    alg: &'static str,
}

#[derive(Debug)]
pub struct State {
    pub db: Db,
    pub keys: Arc<Keys>,
    pub clock: SharedClock,
}

impl Collector for State {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pools = self.db.pool_states();
        let mut conns = encoder.encode_descriptor(
            "gantry_db_pool_connections",
            "Database connections open in each pool, in use or idle.",
            None,
            MetricType::Gauge,
        )?;
        for (pool, s) in &pools {
            let in_use = s.size.saturating_sub(s.idle);
            for (state, n) in [("in_use", in_use), ("idle", s.idle)] {
                let labels = ConnLabels { pool, state };
                ConstGauge::new(i64::from(n)).encode(conns.encode_family(&labels)?)?;
            }
        }
        let mut max = encoder.encode_descriptor(
            "gantry_db_pool_max_connections",
            "The most connections each database pool opens.",
            None,
            MetricType::Gauge,
        )?;
        for (pool, s) in &pools {
            ConstGauge::new(i64::from(s.max)).encode(max.encode_family(&PoolLabels { pool })?)?;
        }
        let now = self.clock.now();
        if let Some((alg, made)) = self.keys.current().signer_made(now) {
            let mut age = encoder.encode_descriptor(
                "gantry_signing_key_age_seconds",
                "Seconds since the key that signs tokens now was made, by its algorithm.",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(now.saturating_sub(made))
                .encode(age.encode_family(&AlgLabels { alg })?)?;
        }
        Ok(())
    }
}
