//! Per-subject limits of the HTTP endpoint: how many requests one subject
//! (a token's subject; `anonymous` without authentication) may have running
//! at once, and how many it may start per second (a token bucket whose
//! burst is one second's worth). Over either, the request is answered 429
//! with `Retry-After` before it reaches a tool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Default of `--http-max-concurrent`: requests one subject may have running.
pub const DEFAULT_MAX_CONCURRENT: usize = 256;

/// Subjects tracked before idle ones are forgotten.
const MAX_SUBJECTS: usize = 10_000;

/// The limits and each subject's current use.
#[derive(Debug)]
pub struct SubjectLimits {
    max_concurrent: usize,
    per_second: f64,
    subjects: Mutex<HashMap<Arc<str>, Arc<Subject>>>,
}

#[derive(Debug)]
struct Subject {
    running: Arc<Semaphore>,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Why a request was refused, with the seconds to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many requests of this subject are running.
    Concurrency,
    /// Over the per-second rate; retry after this many seconds.
    Rate(u64),
}

impl SubjectLimits {
    /// `max_concurrent` requests at once (0: no limit), `per_second`
    /// requests started per second (0: no limit).
    pub fn new(max_concurrent: usize, per_second: u32) -> Self {
        SubjectLimits {
            max_concurrent,
            per_second: f64::from(per_second),
            subjects: Mutex::new(HashMap::new()),
        }
    }

    /// Admits one request of `subject`: the permit is held until the
    /// response is finished (`None` when concurrency is unlimited).
    pub fn admit(&self, subject: &Arc<str>) -> Result<Option<OwnedSemaphorePermit>, Refusal> {
        if self.max_concurrent == 0 && self.per_second == 0.0 {
            return Ok(None);
        }
        let state = self.subject(subject);
        if self.per_second > 0.0 {
            let mut bucket = state.bucket.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let refill = now.duration_since(bucket.at).as_secs_f64() * self.per_second;
            bucket.tokens = (bucket.tokens + refill).min(self.per_second.max(1.0));
            bucket.at = now;
            if bucket.tokens < 1.0 {
                let wait = ((1.0 - bucket.tokens) / self.per_second).ceil().max(1.0);
                return Err(Refusal::Rate(wait as u64));
            }
            bucket.tokens -= 1.0;
        }
        if self.max_concurrent == 0 {
            return Ok(None);
        }
        state
            .running
            .clone()
            .try_acquire_owned()
            .map(Some)
            .map_err(|_| Refusal::Concurrency)
    }

    fn subject(&self, subject: &Arc<str>) -> Arc<Subject> {
        let mut subjects = self.subjects.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = subjects.get(subject) {
            return s.clone();
        }
        if subjects.len() >= MAX_SUBJECTS {
            // Forget the idle ones (nothing running, bucket refilled).
            let full = self.per_second.max(1.0);
            let max = self.max_concurrent;
            subjects.retain(|_, s| {
                let idle = max == 0 || s.running.available_permits() == max;
                let bucket = s.bucket.lock().unwrap_or_else(|e| e.into_inner());
                let refilled =
                    bucket.tokens + bucket.at.elapsed().as_secs_f64() * self.per_second >= full;
                !(idle && refilled)
            });
        }
        let state = Arc::new(Subject {
            running: Arc::new(Semaphore::new(self.max_concurrent.max(1))),
            bucket: Mutex::new(Bucket {
                tokens: self.per_second.max(1.0),
                at: Instant::now(),
            }),
        });
        subjects.insert(subject.clone(), state.clone());
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_is_per_subject_and_released_with_the_permit() {
        let limits = SubjectLimits::new(2, 0);
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let p1 = limits.admit(&a).unwrap();
        let _p2 = limits.admit(&a).unwrap();
        assert_eq!(limits.admit(&a).unwrap_err(), Refusal::Concurrency);
        assert!(limits.admit(&b).is_ok());
        drop(p1);
        assert!(limits.admit(&a).is_ok());
    }

    #[test]
    fn the_rate_refuses_past_one_seconds_burst_with_a_wait() {
        let limits = SubjectLimits::new(0, 5);
        let a: Arc<str> = "a".into();
        for _ in 0..5 {
            assert!(limits.admit(&a).is_ok());
        }
        assert_eq!(limits.admit(&a).unwrap_err(), Refusal::Rate(1));
        let b: Arc<str> = "b".into();
        assert!(limits.admit(&b).is_ok());
    }

    #[test]
    fn no_limits_admit_everything() {
        let limits = SubjectLimits::new(0, 0);
        let a: Arc<str> = "a".into();
        for _ in 0..10_000 {
            assert!(limits.admit(&a).unwrap().is_none());
        }
    }
}
