//! What to do after an attempt: a pure decision from the attempt's result and the
//! subscription's retry policy (schedule, ±20% jitter, `Retry-After`, give-up statuses).

use std::time::Duration;

use crate::subscription::RetryPolicy;

/// What one attempt produced, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptResult {
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// Timeout, connection refused, TLS failure…
    Error(String),
    /// Not sent: the egress policy forbids the address. Retrying cannot change that.
    Refused(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Succeeded,
    Retry(Duration),
    GiveUp(String),
}

/// `attempt` counts from 1; `jitter` is in [-1, 1] and scales the wait by up to ±20%.
pub fn decide(attempt: u32, policy: &RetryPolicy, result: &AttemptResult, jitter: f64) -> Decision {
    let (code, retry_after) = match result {
        AttemptResult::Status { code, retry_after } => (Some(*code), *retry_after),
        AttemptResult::Error(_) => (None, None),
        AttemptResult::Refused(_) => {
            return Decision::GiveUp("not retried: sending it again would be refused the same way".into())
        }
    };
    if let Some(code) = code {
        if (200..300).contains(&code) {
            return Decision::Succeeded;
        }
        if policy.give_up_on.contains(&code) {
            return Decision::GiveUp(format!("status {code} is in retry.give_up_on"));
        }
        if code == 410 {
            return Decision::GiveUp("410 Gone: the receiver asked not to be sent more".into());
        }
    }
    let Some(scheduled) = policy.schedule.get(attempt.saturating_sub(1) as usize).copied() else {
        return Decision::GiveUp(format!("no retries left after attempt {attempt}"));
    };
    let mut wait = scheduled.mul_f64(1.0 + 0.2 * jitter.clamp(-1.0, 1.0));
    if let (Some(429 | 503), Some(asked)) = (code, retry_after) {
        wait = wait.max(asked.min(scheduled * 2));
    }
    Decision::Retry(wait)
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // More seconds than a u64 holds is still "a long time": the caller caps it, as it does
    // any long wait, rather than ignoring it and retrying on the plain schedule.
    if value.len() > 1 && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(u64::MAX));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            schedule: vec![Duration::from_secs(30), Duration::from_secs(60), Duration::from_secs(120)],
            give_up_on: vec![400, 422],
        }
    }

    fn status(code: u16) -> AttemptResult {
        AttemptResult::Status { code, retry_after: None }
    }

    #[test]
    fn decisions_follow_the_policy() {
        let p = policy();
        assert_eq!(decide(1, &p, &status(200), 0.0), Decision::Succeeded);
        assert_eq!(decide(1, &p, &status(204), 0.0), Decision::Succeeded);
        assert_eq!(decide(1, &p, &status(500), 0.0), Decision::Retry(Duration::from_secs(30)));
        assert_eq!(decide(2, &p, &status(302), 0.0), Decision::Retry(Duration::from_secs(60)));
        assert_eq!(
            decide(3, &p, &AttemptResult::Error("timeout".into()), 0.0),
            Decision::Retry(Duration::from_secs(120))
        );
        assert!(matches!(decide(4, &p, &status(500), 0.0), Decision::GiveUp(_)));
        assert!(matches!(decide(1, &p, &status(422), 0.0), Decision::GiveUp(_)));
        assert!(matches!(decide(1, &p, &status(410), 0.0), Decision::GiveUp(_)));
        assert!(matches!(decide(1, &p, &AttemptResult::Refused("egress".into()), 0.0), Decision::GiveUp(_)));
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let p = policy();
        assert_eq!(decide(1, &p, &status(500), 1.0), Decision::Retry(Duration::from_secs(36)));
        assert_eq!(decide(1, &p, &status(500), -1.0), Decision::Retry(Duration::from_secs(24)));
        assert_eq!(decide(1, &p, &status(500), 7.0), Decision::Retry(Duration::from_secs(36)));
    }

    #[test]
    fn retry_after_lengthens_but_is_clamped() {
        let p = policy();
        let with = |code, secs| AttemptResult::Status { code, retry_after: Some(Duration::from_secs(secs)) };
        assert_eq!(decide(1, &p, &with(429, 45), 0.0), Decision::Retry(Duration::from_secs(45)));
        assert_eq!(decide(1, &p, &with(503, 3600), 0.0), Decision::Retry(Duration::from_secs(60)));
        assert_eq!(decide(1, &p, &with(503, 1), 0.0), Decision::Retry(Duration::from_secs(30)));
        assert_eq!(decide(1, &p, &with(500, 45), 0.0), Decision::Retry(Duration::from_secs(30)));
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("soon", now), None);
        // Too many seconds for a u64 is still a long wait (capped by the caller), not none.
        assert_eq!(parse_retry_after("99999999999999999999", now), Some(Duration::from_secs(u64::MAX)));
    }
}
