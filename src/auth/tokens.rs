//! The access tokens this node holds, one per OAuth2 credential (by `Credential::key`), so
//! subscriptions with the same credentials share one token. Each credential has a slot
//! whose lock is held while a token is fetched: deliveries that need one meanwhile wait for
//! that fetch instead of starting their own. Kept in memory only (ARCHITECTURE.md: each
//! node fetches its own token, once per expiry).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::{Credential, Token};
use crate::secret::Secret;

#[derive(Debug, Default)]
pub struct Tokens {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// Numbers every token this node fetched, so a refused one is never mistaken for its
    /// replacement.
    generations: AtomicU64,
}

#[derive(Debug, Default)]
struct Slot {
    held: tokio::sync::Mutex<Option<Held>>,
}

#[derive(Debug)]
struct Held {
    issued: Issued,
    renew_at: Instant,
    expires_at: Instant,
}

/// A token handed to one attempt; `generation` tells a renewal after a 401 whether another
/// attempt renewed it already.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: Secret,
    generation: u64,
}

impl Tokens {
    /// The credential's token: the one held, unless it is due for renewal, else a new one
    /// from `fetch`. A renewal that fails while the held token is still valid keeps using it
    /// (the next delivery tries again); with none valid, `fetch`'s error.
    pub async fn get<E, F>(&self, credential: &Credential, fetch: impl FnOnce() -> F) -> Result<Issued, E>
    where
        F: Future<Output = Result<Token, E>>,
    {
        let slot = self.slot(&credential.key);
        let mut held = slot.held.lock().await;
        let now = Instant::now();
        if let Some(h) = held.as_ref().filter(|h| now < h.renew_at) {
            return Ok(h.issued.clone());
        }
        match fetch().await {
            Ok(token) => Ok(self.store(&mut held, token)),
            Err(e) => match held.as_ref().filter(|h| Instant::now() < h.expires_at) {
                Some(h) => Ok(h.issued.clone()),
                None => Err(e),
            },
        }
    }

    /// A new token after the receiver refused `rejected` (401): fetched now, unless another
    /// attempt already replaced `rejected`, whose replacement is then used.
    pub async fn renew<E, F>(
        &self,
        credential: &Credential,
        rejected: &Issued,
        fetch: impl FnOnce() -> F,
    ) -> Result<Issued, E>
    where
        F: Future<Output = Result<Token, E>>,
    {
        let slot = self.slot(&credential.key);
        let mut held = slot.held.lock().await;
        if let Some(h) = held.as_ref().filter(|h| h.issued.generation != rejected.generation) {
            return Ok(h.issued.clone());
        }
        // The refused token is not used again, even if renewing fails.
        *held = None;
        let token = fetch().await?;
        Ok(self.store(&mut held, token))
    }

    fn slot(&self, key: &str) -> Arc<Slot> {
        // A poisoned map only means a panic elsewhere mid-insert; its entries are whole.
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(key.to_string()).or_default().clone()
    }

    fn store(&self, held: &mut Option<Held>, token: Token) -> Issued {
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let now = Instant::now();
        let (renew_at, expires_at) = (now + token.renew_after(), now + token.lifetime);
        let issued = Issued { token: token.access_token, generation };
        *held = Some(Held { issued: issued.clone(), renew_at, expires_at });
        issued
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    use super::*;
    use crate::auth::ClientAuth;

    fn credential() -> Credential {
        Credential::new("http://127.0.0.1:9/t", Secret::new("id"), Secret::new("secret"), None, None, ClientAuth::Basic)
            .unwrap()
    }

    fn token(name: &str, seconds: u64) -> Token {
        Token { access_token: Secret::new(name), lifetime: Duration::from_secs(seconds) }
    }

    /// Moves the held token `by` into its past, as if that much time had gone by.
    async fn age(tokens: &Tokens, by: Duration) {
        let slot = tokens.slot(&credential().key);
        let mut held = slot.held.lock().await;
        let h = held.as_mut().unwrap();
        h.renew_at -= by;
        h.expires_at -= by;
    }

    async fn get(tokens: &Tokens, answer: Result<Token, String>) -> Result<String, String> {
        tokens.get(&credential(), || async { answer }).await.map(|i| i.token.expose().to_string())
    }

    #[tokio::test]
    async fn one_fetch_serves_concurrent_callers_until_renewal_is_due() {
        let tokens = Arc::new(Tokens::default());
        let fetches = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (tokens, fetches) = (tokens.clone(), fetches.clone());
            tasks.push(tokio::spawn(async move {
                let fetch = || async {
                    let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, String>(token(&format!("t{n}"), 60))
                };
                tokens.get(&credential(), fetch).await.unwrap().token.expose().to_string()
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), "t1");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // Renewed a third of its lifetime ahead of expiry: at 40 s, not before.
        age(&tokens, Duration::from_secs(39)).await;
        assert_eq!(get(&tokens, Ok(token("t2", 60))).await.unwrap(), "t1");
        age(&tokens, Duration::from_secs(2)).await;
        assert_eq!(get(&tokens, Ok(token("t2", 60))).await.unwrap(), "t2");
    }

    #[tokio::test]
    async fn a_failed_renewal_keeps_a_valid_token_and_fails_once_it_expired() {
        let tokens = Tokens::default();
        get(&tokens, Ok(token("t1", 60))).await.unwrap();
        age(&tokens, Duration::from_secs(50)).await;
        assert_eq!(get(&tokens, Err("down".into())).await.unwrap(), "t1");
        age(&tokens, Duration::from_secs(11)).await;
        assert_eq!(get(&tokens, Err("down".into())).await.unwrap_err(), "down");
    }

    #[tokio::test]
    async fn a_rejected_token_is_renewed_once_however_many_attempts_saw_it_refused() {
        let tokens = Tokens::default();
        let renew = |rejected: Issued, answer: Result<Token, String>| {
            let tokens = &tokens;
            async move { tokens.renew(&credential(), &rejected, || async { answer }).await }
        };
        let first = tokens.get(&credential(), || async { Ok::<_, String>(token("t1", 60)) }).await.unwrap();
        assert_eq!(renew(first.clone(), Ok(token("t2", 60))).await.unwrap().token.expose(), "t2");
        // A second attempt that was refused with t1 gets t2 without a fetch.
        assert_eq!(renew(first, Err("no fetch".into())).await.unwrap().token.expose(), "t2");
        // A failed renewal leaves nothing held: the next attempt fetches.
        let t2 = tokens.get(&credential(), || async { Err::<Token, String>("unused".into()) }).await.unwrap();
        assert_eq!(renew(t2, Err("down".into())).await.unwrap_err(), "down");
        assert_eq!(get(&tokens, Ok(token("t3", 60))).await.unwrap(), "t3");
    }
}
