//! Second factors in memory, for unit tests: the same compare-and-set answers as the database.
//! Login requests are not kept here; a test sets a request's amr with [`MemoryFactors::open_request`].

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::factors::{FactorRow, FactorStore, FactorSummary};
use super::{Result, StorageError};

#[derive(Debug, Default)]
struct State {
    factors: Vec<FactorRow>,
    /// subject -> (hash, used_at)
    recovery: HashMap<String, Vec<(String, Option<i64>)>>,
    /// subject -> (failures, window_start)
    guesses: HashMap<String, (i64, i64)>,
    /// request id -> (amr, acr_values, expires_at)
    requests: HashMap<String, (String, String, i64)>,
    /// request id -> WebAuthn ceremony
    ceremonies: HashMap<String, String>,
}

#[derive(Debug, Default)]
pub struct MemoryFactors {
    state: Mutex<State>,
}

impl MemoryFactors {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A login request as the database would hold it, for the factor step to read and extend.
    pub fn open_request(&self, id: &str, amr: &str, acr_values: &str, expires_at: i64) {
        self.state()
            .requests
            .insert(id.into(), (amr.into(), acr_values.into(), expires_at));
    }
}

#[async_trait]
impl FactorStore for MemoryFactors {
    async fn factors_of(&self, subject: &str) -> Result<Vec<FactorRow>> {
        Ok(self
            .state()
            .factors
            .iter()
            .filter(|f| f.subject == subject)
            .cloned()
            .collect())
    }

    async fn add_totp_factor(&self, f: &FactorRow) -> Result<FactorRow> {
        let mut s = self.state();
        let same = |x: &FactorRow| {
            x.subject == f.subject && x.authenticator_id == f.authenticator_id && x.kind == f.kind
        };
        if let Some(old) = s.factors.iter().find(|x| same(x)) {
            return Ok(old.clone());
        }
        s.factors.push(f.clone());
        Ok(f.clone())
    }

    async fn drop_enrolment_unless(
        &self,
        subject: &str,
        authenticator_id: &str,
        keep_id: &str,
    ) -> Result<()> {
        self.state().factors.retain(|f| {
            !(f.subject == subject
                && f.authenticator_id == authenticator_id
                && f.confirmed_at.is_none()
                && f.id != keep_id)
        });
        Ok(())
    }

    async fn accept_totp_step(&self, id: &str, step: i64, now: i64) -> Result<bool> {
        let mut s = self.state();
        let Some(f) = s
            .factors
            .iter_mut()
            .find(|f| f.id == id && f.last_step < step)
        else {
            return Ok(false);
        };
        f.last_step = step;
        f.last_used_at = Some(now);
        f.confirmed_at.get_or_insert(now);
        Ok(true)
    }

    async fn replace_recovery_codes(
        &self,
        subject: &str,
        hashes: &[String],
        _now: i64,
    ) -> Result<()> {
        self.state().recovery.insert(
            subject.into(),
            hashes.iter().map(|h| (h.clone(), None)).collect(),
        );
        Ok(())
    }

    async fn unused_recovery_codes(&self, subject: &str) -> Result<Vec<String>> {
        Ok(self
            .state()
            .recovery
            .get(subject)
            .into_iter()
            .flatten()
            .filter(|(_, used)| used.is_none())
            .map(|(h, _)| h.clone())
            .collect())
    }

    async fn use_recovery_code(&self, subject: &str, hash: &str, now: i64) -> Result<bool> {
        let mut s = self.state();
        let code = s
            .recovery
            .get_mut(subject)
            .and_then(|c| c.iter_mut().find(|(h, used)| h == hash && used.is_none()));
        match code {
            Some((_, used)) => {
                *used = Some(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn mfa_failures(&self, subject: &str, since: i64) -> Result<i64> {
        Ok(match self.state().guesses.get(subject) {
            Some((n, start)) if *start > since => *n,
            _ => 0,
        })
    }

    async fn record_mfa_failure(&self, subject: &str, now: i64, since: i64) -> Result<i64> {
        let mut s = self.state();
        let e = s.guesses.entry(subject.into()).or_insert((0, now));
        if e.1 > since {
            e.0 += 1;
        } else {
            *e = (1, now);
        }
        Ok(e.0)
    }

    async fn clear_mfa_failures(&self, subject: &str) -> Result<()> {
        self.state().guesses.remove(subject);
        Ok(())
    }

    async fn add_webauthn_factor(&self, f: &FactorRow) -> Result<bool> {
        let mut s = self.state();
        if s.factors
            .iter()
            .any(|x| x.credential_id.is_some() && x.credential_id == f.credential_id)
        {
            return Ok(false);
        }
        s.factors.push(f.clone());
        Ok(true)
    }

    async fn accept_webauthn_use(
        &self,
        id: &str,
        (old, new): (i64, i64),
        secret: &str,
        now: i64,
    ) -> Result<bool> {
        let mut s = self.state();
        let Some(f) = s
            .factors
            .iter_mut()
            .find(|f| f.id == id && f.sign_count == old)
        else {
            return Ok(false);
        };
        f.sign_count = new;
        f.secret = secret.into();
        f.last_used_at = Some(now);
        Ok(true)
    }

    async fn all_factors(&self, limit: i64, offset: i64) -> Result<Vec<FactorSummary>> {
        let mut all: Vec<FactorRow> = self.state().factors.clone();
        all.sort_by(|a, b| {
            (&a.subject, a.created_at, &a.id).cmp(&(&b.subject, b.created_at, &b.id))
        });
        Ok(all
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(0))
            .take(usize::try_from(limit).unwrap_or(0))
            .map(|f| FactorSummary {
                id: f.id,
                subject: f.subject,
                connector_id: f.connector_id,
                authenticator_id: f.authenticator_id,
                kind: f.kind,
                name: f.name,
                confirmed_at: f.confirmed_at,
                created_at: f.created_at,
                last_used_at: f.last_used_at,
            })
            .collect())
    }

    async fn reset_factors(&self, subject: &str) -> Result<(u64, u64)> {
        let mut s = self.state();
        let before = s.factors.len();
        s.factors.retain(|f| f.subject != subject);
        let factors = (before - s.factors.len()) as u64;
        let codes = s.recovery.remove(subject).map_or(0, |c| c.len() as u64);
        s.guesses.remove(subject);
        Ok((factors, codes))
    }

    async fn put_ceremony(&self, request_id: &str, ceremony: &str, now: i64) -> Result<bool> {
        let mut s = self.state();
        if !matches!(s.requests.get(request_id), Some((_, _, exp)) if *exp > now) {
            return Ok(false);
        }
        s.ceremonies.insert(request_id.into(), ceremony.into());
        Ok(true)
    }

    async fn take_ceremony(&self, request_id: &str, now: i64) -> Result<Option<String>> {
        let mut s = self.state();
        if !matches!(s.requests.get(request_id), Some((_, _, exp)) if *exp > now) {
            return Ok(None);
        }
        Ok(s.ceremonies.remove(request_id))
    }

    async fn auth_request_amr(&self, id: &str, now: i64) -> Result<(String, String)> {
        match self.state().requests.get(id) {
            Some((amr, acr, exp)) if *exp > now => Ok((amr.clone(), acr.clone())),
            _ => Err(StorageError::NotFound),
        }
    }

    async fn replace_auth_request_amr(&self, id: &str, old: &str, new: &str) -> Result<bool> {
        match self.state().requests.get_mut(id) {
            Some((amr, _, _)) if amr == old => {
                *amr = new.into();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
