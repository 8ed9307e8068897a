//! Slowing down token guessing: after a few wrong tokens (bearer or the console's sign-in)
//! from one client address, that address waits longer after each further wrong one (429
//! with `Retry-After`, the token not even compared meanwhile). Other addresses, and the
//! right token from them, are not affected. The table of addresses is bounded.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use warp::http::StatusCode;

use super::error::ApiError;

/// Wrong tokens an address may present before it has to wait.
const FREE_TRIES: u32 = 5;
/// The first wait; each further wrong token doubles it, up to `MAX_WAIT`.
const FIRST_WAIT: Duration = Duration::from_secs(1);
const MAX_WAIT: Duration = Duration::from_secs(60);
/// An address with no wrong token for this long starts afresh.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered at most; past it the longest quiet one is forgotten first.
const MAX_ADDRESSES: usize = 10_000;

tokio::task_local! {
    /// The client address of the request being answered, set by `server` around each
    /// request: warp's own `remote()` is empty under a hand-driven hyper, and a request
    /// extension would cost every request an allocation where only wrong tokens need it.
    pub static PEER: SocketAddr;
}

/// The address of the request being answered, if the server set one.
pub fn peer() -> Option<IpAddr> {
    PEER.try_with(|p| p.ip()).ok()
}

#[derive(Debug, Clone, Copy)]
struct Tries {
    wrong: u32,
    last: Instant,
}

#[derive(Debug, Default)]
pub struct Throttle {
    table: Mutex<HashMap<IpAddr, Tries>>,
    /// How many addresses the table holds: none (the usual case) is answered without a lock.
    tracked: AtomicUsize,
}

impl Throttle {
    fn table(&self) -> MutexGuard<'_, HashMap<IpAddr, Tries>> {
        // Nothing panics while holding the lock; a poisoned table still holds valid counts.
        self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A 429 while `addr` must wait before presenting another token.
    pub fn check(&self, addr: Option<IpAddr>, now: Instant) -> Result<(), ApiError> {
        let Some(addr) = addr.map(key) else { return Ok(()) };
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let wait = self.table().get(&addr).and_then(|t| remaining(t, now));
        match wait {
            None => Ok(()),
            Some(wait) => Err(too_many(wait)),
        }
    }

    /// Notes a wrong token from `addr`.
    pub fn failed(&self, addr: Option<IpAddr>, now: Instant) {
        let Some(addr) = addr.map(key) else { return };
        let mut table = self.table();
        if !table.contains_key(&addr) && table.len() >= MAX_ADDRESSES {
            make_room(&mut table, now);
        }
        let tries = table.entry(addr).or_insert(Tries { wrong: 0, last: now });
        if now.duration_since(tries.last) > FORGET_AFTER {
            tries.wrong = 0;
        }
        tries.wrong = tries.wrong.saturating_add(1);
        tries.last = now;
        self.tracked.store(table.len(), Ordering::Relaxed);
    }

    /// The right token from `addr`: its wrong ones are forgotten.
    pub fn succeeded(&self, addr: Option<IpAddr>) {
        let Some(addr) = addr.map(key) else { return };
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut table = self.table();
        if table.remove(&addr).is_some() {
            self.tracked.store(table.len(), Ordering::Relaxed);
        }
    }
}

/// IPv6 clients are counted by their /64: one host usually has a whole one to pick from.
fn key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// How long an address with `tries` must still wait, if at all.
fn remaining(tries: &Tries, now: Instant) -> Option<Duration> {
    let over = tries.wrong.checked_sub(FREE_TRIES)?;
    let wait = FIRST_WAIT.saturating_mul(1u32 << over.min(16)).min(MAX_WAIT);
    let until = tries.last + wait;
    (until > now).then(|| until - now)
}

/// Forgets addresses quiet for long; if none is, the quietest one.
fn make_room(table: &mut HashMap<IpAddr, Tries>, now: Instant) {
    table.retain(|_, t| now.duration_since(t.last) <= FORGET_AFTER);
    if table.len() >= MAX_ADDRESSES {
        if let Some(oldest) = table.iter().min_by_key(|(_, t)| t.last).map(|(a, _)| *a) {
            table.remove(&oldest);
        }
    }
}

fn too_many(wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError {
        retry_after: Some(secs),
        ..ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many wrong tokens from this address: try again in {secs} s"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn a_few_wrong_tokens_are_free_then_each_one_waits_longer() {
        let t = Throttle::default();
        let now = Instant::now();
        for _ in 0..FREE_TRIES {
            assert!(t.check(ip("10.0.0.1"), now).is_ok());
            t.failed(ip("10.0.0.1"), now);
        }
        let e = t.check(ip("10.0.0.1"), now).unwrap_err();
        assert_eq!((e.status, e.retry_after), (StatusCode::TOO_MANY_REQUESTS, Some(1)));
        assert!(t.check(ip("10.0.0.1"), now + FIRST_WAIT).is_ok(), "the wait is over");
        t.failed(ip("10.0.0.1"), now + FIRST_WAIT);
        let e = t.check(ip("10.0.0.1"), now + FIRST_WAIT).unwrap_err();
        assert_eq!(e.retry_after, Some(2), "twice as long after another wrong one");
        assert!(t.check(ip("10.0.0.2"), now).is_ok(), "another address is not slowed down");
        assert!(t.check(None, now).is_ok(), "no address known: nothing to count by");
    }

    #[test]
    fn the_wait_is_capped_and_the_right_token_or_a_quiet_spell_forgets() {
        let t = Throttle::default();
        let now = Instant::now();
        for _ in 0..40 {
            t.failed(ip("10.0.0.1"), now);
        }
        assert_eq!(t.check(ip("10.0.0.1"), now).unwrap_err().retry_after, Some(MAX_WAIT.as_secs()));
        t.succeeded(ip("10.0.0.1"));
        assert!(t.check(ip("10.0.0.1"), now).is_ok());
        for _ in 0..FREE_TRIES {
            t.failed(ip("10.0.0.1"), now);
        }
        let later = now + FORGET_AFTER + Duration::from_secs(1);
        t.failed(ip("10.0.0.1"), later);
        assert!(t.check(ip("10.0.0.1"), later).is_ok(), "after a quiet spell it starts afresh");
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_the_table_stays_bounded() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..FREE_TRIES {
            t.failed(ip(&format!("2001:db8:1:2::{i}")), now);
        }
        assert!(t.check(ip("2001:db8:1:2::ffff"), now).is_err(), "the same /64");
        assert!(t.check(ip("2001:db8:1:3::1"), now).is_ok(), "another /64");
        assert_eq!(key("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1".parse::<IpAddr>().unwrap());
        for i in 0..(MAX_ADDRESSES as u32 + 100) {
            t.failed(Some(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i))), now);
        }
        assert_eq!(t.table().len(), MAX_ADDRESSES);
    }
}
