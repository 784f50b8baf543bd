//! Per-user limits: questions per minute (a token bucket) and answers streaming at
//! once. One user cannot spend the whole account's Bedrock quota.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::config::Limits;
use crate::error::{Error, Result};

/// Users tracked before idle ones are forgotten.
const MAX_TRACKED_USERS: usize = 10_000;

/// The limits of every user.
#[derive(Debug)]
pub struct UserLimits {
    limits: Limits,
    users: Mutex<HashMap<String, Usage>>,
}

#[derive(Debug)]
struct Usage {
    tokens: f64,
    refilled: Instant,
    streams: u32,
}

/// A user's permission to stream one answer; dropping it frees the slot.
#[derive(Debug)]
pub struct StreamSlot {
    owner: Arc<UserLimits>,
    user: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Some(usage) = self.owner.lock().get_mut(&self.user) {
            usage.streams = usage.streams.saturating_sub(1);
        }
    }
}

impl UserLimits {
    /// Limits as configured.
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            users: Mutex::new(HashMap::new()),
        })
    }

    /// Admits one question from `user` at `now`: a free stream slot and a token from
    /// the bucket, or the error that says when to come back.
    pub fn admit(self: &Arc<Self>, user: &str, now: Instant) -> Result<StreamSlot> {
        let capacity = f64::from(self.limits.requests_per_minute);
        let per_second = capacity / 60.0;
        let mut users = self.lock();
        if users.len() >= MAX_TRACKED_USERS && !users.contains_key(user) {
            users.retain(|_, u| u.streams > 0);
        }
        let usage = users.entry(user.to_string()).or_insert(Usage {
            tokens: capacity,
            refilled: now,
            streams: 0,
        });
        if usage.streams >= self.limits.streams_per_user {
            return Err(Error::TooManyStreams {
                limit: self.limits.streams_per_user,
            });
        }
        let elapsed = now.saturating_duration_since(usage.refilled).as_secs_f64();
        usage.tokens = (usage.tokens + elapsed * per_second).min(capacity);
        usage.refilled = now;
        if usage.tokens < 1.0 {
            let wait = ((1.0 - usage.tokens) / per_second).ceil();
            // At most 60 s by construction (one token per 60/capacity seconds).
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let retry_after = (wait as u64).max(1);
            return Err(Error::RateLimited { retry_after });
        }
        usage.tokens -= 1.0;
        usage.streams += 1;
        Ok(StreamSlot {
            owner: Arc::clone(self),
            user: user.to_string(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Usage>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits(per_minute: u32, streams: u32) -> Arc<UserLimits> {
        UserLimits::new(Limits {
            requests_per_minute: per_minute,
            streams_per_user: streams,
            ..Limits::default()
        })
    }

    #[test]
    fn refuses_a_burst_over_the_rate_and_says_when_to_retry() {
        let l = limits(2, 10);
        let now = Instant::now();
        let _a = l.admit("u", now).unwrap();
        let _b = l.admit("u", now).unwrap();
        let err = l.admit("u", now).unwrap_err();
        assert!(
            matches!(err, Error::RateLimited { retry_after: 30 }),
            "{err}"
        );
        // Another user is not affected.
        assert!(l.admit("v", now).is_ok());
        // Half a minute later one token is back.
        assert!(l.admit("u", now + Duration::from_secs(30)).is_ok());
    }

    #[test]
    fn limits_concurrent_streams_until_one_ends() {
        let l = limits(100, 1);
        let now = Instant::now();
        let slot = l.admit("u", now).unwrap();
        assert!(matches!(
            l.admit("u", now),
            Err(Error::TooManyStreams { limit: 1 })
        ));
        drop(slot);
        assert!(l.admit("u", now).is_ok());
    }
}
