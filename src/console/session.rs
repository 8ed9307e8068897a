//! Who may use the console: a session cookie given for the admin token, and the CSRF
//! token every form carries. Both are MACs under a key derived from the admin token, so
//! they hold across restarts and nodes, and rotating the token signs everyone out.
//! Signing out revokes the session on the server: its nonce is remembered until the
//! session would have expired, here at once and in the store (`Store::revoke_session`),
//! from which every node learns it (`REFRESH_MS`), a restarted one too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};

use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::secret::Secret;
use crate::sign::hmac_hex;

pub const COOKIE: &str = "hookshape_session";
/// A session lasts this long; then the console asks for the token again.
pub const LIFETIME_SECS: i64 = 12 * 3600;

/// Revoked sessions remembered at most; past it the soonest to expire are forgotten first
/// (only a signed-in person can add one, by signing out).
const MAX_REVOKED: usize = 10_000;

/// How often a node reads the store's revoked sessions (milliseconds), at most: the delay
/// before a cookie signed out on another node stops working here.
pub const REFRESH_MS: i64 = 2_000;

pub struct Sessions {
    key: Vec<u8>,
    /// The admin token, when there is one: without it the console is open (loopback only).
    token: Option<Secret>,
    /// Sessions signed out before their expiry: nonce → expiry (seconds).
    revoked: Mutex<HashMap<String, i64>>,
    /// When the store's list was last read (milliseconds; 0: never, so the first request reads it).
    refreshed_at: AtomicI64,
}

/// What a request may do: it is signed in (or the console is open), with its form token.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub csrf: String,
    /// Whether there is a session to sign out of.
    pub signed_in: bool,
}

impl Sessions {
    pub fn new(admin_token: Option<Secret>) -> Self {
        let key = match &admin_token {
            Some(t) => hmac_hex(t.expose().as_bytes(), b"hookshape console key").into_bytes(),
            // Open console: a key of this process's own, so form tokens cannot be guessed.
            None => {
                let mut k = vec![0u8; 32];
                rand::thread_rng().fill_bytes(&mut k);
                k
            }
        };
        Self { key, token: admin_token, revoked: Mutex::default(), refreshed_at: AtomicI64::new(0) }
    }

    pub fn needs_sign_in(&self) -> bool {
        self.token.is_some()
    }

    /// The viewer a cookie stands for, or None when a sign-in is needed.
    pub fn viewer(&self, cookie: Option<&str>, now_secs: i64) -> Option<Viewer> {
        if self.token.is_none() {
            return Some(Viewer { csrf: self.mac("csrf:open"), signed_in: false });
        }
        let cookie = cookie?;
        let (nonce, _) = self.session(cookie, now_secs)?;
        if self.revoked().contains_key(nonce) {
            return None;
        }
        Some(Viewer { csrf: self.mac(&format!("csrf:{cookie}")), signed_in: true })
    }

    /// A valid, unexpired cookie's nonce and expiry.
    fn session<'a>(&self, cookie: &'a str, now_secs: i64) -> Option<(&'a str, i64)> {
        let (body, mac) = cookie.rsplit_once('.')?;
        let (expires, nonce) = body.split_once('.')?;
        let expires: i64 = expires.parse().ok()?;
        let valid = bool::from(self.mac(&format!("session:{body}")).as_bytes().ct_eq(mac.as_bytes()));
        (valid && expires > now_secs).then_some((nonce, expires))
    }

    /// Ends the session `cookie` stands for here: it no longer signs anyone in. Returns its
    /// nonce and expiry, for the store to remember (the other nodes, the next start).
    pub fn sign_out(&self, cookie: Option<&str>, now_secs: i64) -> Option<(String, i64)> {
        let (nonce, expires) = cookie.and_then(|c| self.session(c, now_secs))?;
        self.remember(nonce.to_string(), expires, now_secs);
        Some((nonce.to_string(), expires))
    }

    /// Whether the store's revoked sessions are due to be read again; claims the read, so
    /// concurrent requests do not all make it.
    pub fn refresh_due(&self, now_ms: i64) -> bool {
        let last = self.refreshed_at.load(Ordering::Relaxed);
        now_ms - last >= REFRESH_MS
            && self.refreshed_at.compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    /// Takes in the sessions the store knows were signed out (on any node).
    pub fn learn(&self, revoked: Vec<(String, i64)>, now_secs: i64) {
        for (nonce, until) in revoked {
            self.remember(nonce, until, now_secs);
        }
    }

    fn remember(&self, nonce: String, until: i64, now_secs: i64) {
        let mut revoked = self.revoked();
        if revoked.contains_key(&nonce) {
            return;
        }
        if revoked.len() >= MAX_REVOKED {
            revoked.retain(|_, until| *until > now_secs);
        }
        if revoked.len() >= MAX_REVOKED {
            if let Some(soonest) = revoked.iter().min_by_key(|(_, until)| **until).map(|(n, _)| n.clone()) {
                revoked.remove(&soonest);
            }
        }
        revoked.insert(nonce, until);
    }

    fn revoked(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        // Nothing panics while holding the lock; a poisoned map still holds valid entries.
        self.revoked.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new session's cookie value when `presented` is the admin token.
    pub fn sign_in(&self, presented: &str, now_secs: i64) -> Option<String> {
        let token = self.token.as_ref()?;
        if !bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes())) {
            return None;
        }
        let mut nonce = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut nonce);
        let body = format!("{}.{}", now_secs + LIFETIME_SECS, hex::encode(nonce));
        Some(format!("{body}.{}", self.mac(&format!("session:{body}"))))
    }

    /// The `Set-Cookie` value for a session: HttpOnly, SameSite=Strict, and Secure when the
    /// console is reached over TLS (a proxy in front says so with `X-Forwarded-Proto`).
    pub fn set_cookie(value: &str, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!("{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={LIFETIME_SECS}{secure}")
    }

    pub fn clear_cookie() -> String {
        format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
    }

    fn mac(&self, what: &str) -> String {
        hmac_hex(&self.key, what.as_bytes())
    }
}

impl Viewer {
    /// Whether a form's token is this viewer's.
    pub fn accepts(&self, presented: Option<&String>) -> bool {
        presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(self.csrf.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(Some(Secret::new("admin-token")))
    }

    #[test]
    fn the_admin_token_signs_in_and_anything_else_does_not() {
        let s = sessions();
        assert!(s.sign_in("wrong", 0).is_none());
        let cookie = s.sign_in("admin-token", 0).unwrap();
        let viewer = s.viewer(Some(&cookie), 1).unwrap();
        assert!(viewer.signed_in && viewer.accepts(Some(&viewer.csrf)));
        assert!(!viewer.accepts(Some(&"0".repeat(64))) && !viewer.accepts(None));
    }

    #[test]
    fn a_session_ends_at_its_expiry_and_cannot_be_forged_or_moved_to_another_token() {
        let s = sessions();
        let cookie = s.sign_in("admin-token", 0).unwrap();
        assert!(s.viewer(Some(&cookie), LIFETIME_SECS + 1).is_none());
        let (_, mac) = cookie.rsplit_once('.').unwrap();
        assert!(s.viewer(Some(&format!("99999999999.00.{mac}")), 1).is_none());
        let other = Sessions::new(Some(Secret::new("rotated")));
        assert!(other.viewer(Some(&cookie), 1).is_none());
    }

    #[test]
    fn signing_out_ends_that_session_only() {
        let s = sessions();
        let (gone, kept) = (s.sign_in("admin-token", 0).unwrap(), s.sign_in("admin-token", 0).unwrap());
        s.sign_out(Some(&gone), 1);
        assert!(s.viewer(Some(&gone), 2).is_none(), "the old cookie no longer works");
        assert!(s.viewer(Some(&kept), 2).is_some(), "another session goes on");
        s.sign_out(Some("forged.00.00"), 1);
        assert_eq!(s.revoked().len(), 1, "only a valid session is remembered");
    }

    #[test]
    fn an_open_console_needs_no_cookie_but_still_gives_a_form_token() {
        let s = Sessions::new(None);
        let viewer = s.viewer(None, 0).unwrap();
        assert!(!viewer.signed_in && viewer.csrf.len() == 64);
    }
}
