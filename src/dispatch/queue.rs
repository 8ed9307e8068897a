//! The deliveries this node has leased and not sent yet, one queue per subscription, and
//! which goes next: subscriptions take turns, and none may hold more than its share of the
//! concurrency: an eighth is kept for subscriptions that have just got work (in-flight
//! requests cannot be taken back, so the room must be there before they arrive), and the
//! rest is divided among the busy ones. So a slow receiver never delays the others.
//! A rate-limited subscription's deliveries wait here, holding no permit, until its pacer
//! (`pace.rs`) has claimed their turns; a paused one's (429 `Retry-After`) until the pause ends.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::store::Leased;

pub struct WorkQueue {
    state: Mutex<State>,
    /// Subscriptions whose receiver could not be reached just now: neither intake nor the
    /// lease loop takes their deliveries until their pause is over.
    pub unreachable: super::breaker::Breakers,
    /// Subscriptions paused by a 429 with `Retry-After`: nothing of theirs is given out.
    pub paused: super::pause::Pauses,
    concurrency: usize,
    /// Deliveries queued, in flight and reserved together, at most.
    capacity: usize,
    /// New work, or a subscription's share freed: for the sender.
    work: Notify,
    /// Room freed: for the loop that leases from the store.
    room: Notify,
}

#[derive(Default)]
struct State {
    subs: HashMap<String, Sub>,
    /// Subscriptions with queued work, in the order they take turns.
    turns: VecDeque<String>,
    /// Deliveries queued, in flight, and reserved by intake (about to be queued).
    load: usize,
    /// Rate-limited subscriptions whose pacer task is running.
    pacers: std::collections::HashSet<String>,
    /// Rate-limited subscriptions whose next turn is not before a time (ms), as their
    /// pacers learnt from the store at a pace (µs): nothing more of theirs is leased until
    /// it nears.
    next_turns: HashMap<String, (i64, u64)>,
    /// Deliveries queued past their `send_by`, set aside by `next` for the send loop to
    /// give back (counted in flight meanwhile).
    stale: Vec<Leased>,
}

#[derive(Default)]
struct Sub {
    queued: VecDeque<Leased>,
    in_flight: usize,
    reserved: usize,
    /// Rate-limited: a delivery is given out only with a turn its pacer claimed.
    paced: bool,
    /// Turns claimed and come, not yet used: the time (ms) each must be used by. A turn
    /// not used by then is let go: used late, it would make a burst with the next.
    turns_ready: VecDeque<i64>,
}

impl Sub {
    fn load(&self) -> usize {
        self.queued.len() + self.in_flight + self.reserved
    }
}

impl State {
    fn share(&self, concurrency: usize) -> usize {
        let kept_back = (concurrency / 8).max(1);
        (concurrency.saturating_sub(kept_back) / self.subs.len().max(1)).max(1)
    }

    /// Forgets a subscription with nothing left, so it no longer divides the shares (nor
    /// keeps turns it has no delivery for: they would become a burst later).
    fn tidy(&mut self, sub: &str) {
        if self.subs.get(sub).is_some_and(|s| s.load() == 0 && !self.pacers.contains(sub)) {
            self.subs.remove(sub);
        } else if let Some(s) = self.subs.get_mut(sub).filter(|s| s.queued.is_empty()) {
            s.turns_ready.clear();
        }
    }
}

impl WorkQueue {
    pub fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            state: Mutex::default(),
            unreachable: Default::default(),
            paused: Default::default(),
            concurrency,
            capacity: concurrency * 2,
            work: Notify::new(),
            room: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one still holds valid counts.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reserves room for one fresh delivery of `sub`, which intake will lease as it stores
    /// it; false when the queue is full or `sub` already has its share (intake then stores
    /// it pending, for a later lease).
    pub fn reserve(&self, sub: &str) -> bool {
        let now = crate::now_ms();
        if self.unreachable.is_open(sub, now) || self.paused.is_paused(sub, now) {
            return false;
        }
        let mut st = self.state();
        if st.load >= self.capacity {
            return false;
        }
        // A receiver being probed after it could not be reached takes one at a time.
        let share = if self.unreachable.is_probing(sub, now) { 1 } else { st.share(self.concurrency) };
        let entry = st.subs.entry(sub.to_string()).or_default();
        if entry.load() >= share {
            return false;
        }
        entry.reserved += 1;
        st.load += 1;
        true
    }

    /// Settles intake's reservations: those `leased` are queued, the others released.
    pub fn settle(&self, reserved: &[String], leased: Vec<Leased>) {
        {
            let mut st = self.state();
            for sub in reserved {
                if let Some(s) = st.subs.get_mut(sub) {
                    s.reserved -= 1;
                    st.load -= 1;
                }
            }
            for d in leased {
                Self::enqueue(&mut st, d, false);
            }
            for sub in reserved {
                st.tidy(sub);
            }
        }
        self.work.notify_one();
        self.room.notify_one();
    }

    /// Queues deliveries leased from the store; those of `paced` subscriptions wait for
    /// turns. Returns the paced subscriptions that need a pacer started (none running).
    pub fn push(&self, leased: Vec<Leased>, paced: &dyn Fn(&str) -> bool) -> Vec<String> {
        if leased.is_empty() {
            return Vec::new();
        }
        let mut start = Vec::new();
        {
            let mut st = self.state();
            for d in leased {
                let is_paced = paced(&d.subscription);
                if is_paced && st.pacers.insert(d.subscription.clone()) {
                    start.push(d.subscription.clone());
                }
                Self::enqueue(&mut st, d, is_paced);
            }
        }
        self.work.notify_one();
        start
    }

    fn enqueue(st: &mut State, d: Leased, paced: bool) {
        let entry = st.subs.entry(d.subscription.clone()).or_default();
        entry.paced = paced;
        if entry.queued.is_empty() {
            st.turns.push_back(d.subscription.clone());
        }
        entry.queued.push_back(d);
        st.load += 1;
    }

    /// The next delivery to send, from the first subscription in turn that is below its
    /// share (it then goes to the back of the turns), counted in flight; None if there is none.
    /// Deliveries queued past their `send_by` are set aside on the way (`take_stale`): they
    /// use no turn of a rate limit.
    pub fn next(&self) -> Option<Leased> {
        let now = crate::now_ms();
        let mut st = self.state();
        let share = st.share(self.concurrency);
        for _ in 0..st.turns.len() {
            let sub = st.turns.pop_front()?;
            let paused = self.paused.is_paused(&sub, now);
            let State { subs, stale, .. } = &mut *st;
            let Some(s) = subs.get_mut(&sub) else { continue };
            while s.queued.front().is_some_and(|d| now > d.send_by) {
                stale.extend(s.queued.pop_front());
                s.in_flight += 1;
            }
            if s.queued.is_empty() {
                continue;
            }
            while s.turns_ready.front().is_some_and(|&by| by < now) {
                s.turns_ready.pop_front();
            }
            if s.in_flight >= share || paused || (s.paced && s.turns_ready.is_empty()) {
                st.turns.push_back(sub);
                continue;
            }
            let Some(d) = s.queued.pop_front() else { continue };
            s.in_flight += 1;
            if s.paced {
                s.turns_ready.pop_front();
            }
            if !s.queued.is_empty() {
                st.turns.push_back(sub);
            }
            return Some(d);
        }
        None
    }

    /// The deliveries `next` set aside as queued past their `send_by`: each goes back to the
    /// store, then is `done`.
    pub fn take_stale(&self) -> Vec<Leased> {
        std::mem::take(&mut self.state().stale)
    }

    /// `sub`'s next turn of its rate limit is not before `at` (ms): until `lease_ahead_ms`
    /// before it, nothing more of it is leased (it would wait for that turn past its
    /// `send_by`, and be given back unsent, its turn lost).
    pub fn next_turn_not_before(&self, sub: &str, at: i64, interval_us: u64) {
        self.state().next_turns.insert(sub.to_string(), (at, interval_us));
    }

    /// Sets aside `sub`'s queued deliveries that must start before `at` (ms), the earliest
    /// its next turn can be, but the first `claimed` and those with a turn come (they have
    /// theirs): they would wait for it past their `send_by`. The send loop gives them back,
    /// for whichever node leases them when the turn nears (another node may have taken the
    /// turn this one's lease was made for, before it knew the pace).
    pub fn set_aside_if_stale_by(&self, sub: &str, at: i64, claimed: usize) {
        {
            let mut st = self.state();
            let State { subs, stale, .. } = &mut *st;
            let Some(s) = subs.get_mut(sub) else { return };
            let with_turns = (s.turns_ready.len() + claimed).min(s.queued.len());
            let waiting = s.queued.split_off(with_turns);
            let (late, kept): (VecDeque<Leased>, VecDeque<Leased>) = waiting.into_iter().partition(|d| d.send_by < at);
            s.queued.extend(kept);
            s.in_flight += late.len();
            stale.extend(late);
        }
        self.work.notify_one();
    }

    /// Forgets the next turns learnt at a pace a subscription no longer has (`pace` gives
    /// each one's now; a reload removed or changed its limit): its next lease asks afresh,
    /// rather than wait for a turn of the old pace, an hour away for `per: 1h`.
    pub fn forget_turns_of_old_paces(&self, pace: &dyn Fn(&str) -> Option<u64>) {
        self.state().next_turns.retain(|sub, (_, interval)| pace(sub) == Some(*interval));
    }

    /// A delivery of `sub` that `next` gave out is finished (or was not sent).
    pub fn done(&self, sub: &str) {
        {
            let mut st = self.state();
            if let Some(s) = st.subs.get_mut(sub) {
                s.in_flight -= 1;
                st.load -= 1;
            }
            st.tidy(sub);
        }
        self.work.notify_one();
        self.room.notify_one();
    }

    /// How many of a rate-limited subscription's queued deliveries wait for a turn (none
    /// while it is paused: no turn is claimed then); None when nothing is queued, and its
    /// pacer stops (a later push starts a new one).
    pub fn pacer_waiting(&self, sub: &str) -> Option<usize> {
        let paused = self.paused.is_paused(sub, crate::now_ms());
        let mut st = self.state();
        match st.subs.get(sub) {
            Some(s) if s.paced && !s.queued.is_empty() => {
                Some(if paused { 0 } else { s.queued.len().saturating_sub(s.turns_ready.len()) })
            }
            _ => {
                st.pacers.remove(sub);
                st.tidy(sub);
                None
            }
        }
    }

    /// A turn `sub`'s pacer claimed has come: one of its deliveries may go, until `use_by`
    /// (ms); not if it is paused: a turn is not kept for after the pause, where it would
    /// make a burst.
    pub fn turn_ready(&self, sub: &str, use_by: i64) {
        let paused = self.paused.is_paused(sub, crate::now_ms());
        if let Some(s) = self.state().subs.get_mut(sub).filter(|s| !s.queued.is_empty() && !paused) {
            s.turns_ready.push_back(use_by);
        }
        self.work.notify_one();
    }

    /// `sub` is no longer rate-limited (a reload): its deliveries go without turns.
    pub fn unpace(&self, sub: &str) {
        {
            let mut st = self.state();
            st.pacers.remove(sub);
            st.next_turns.remove(sub);
            if let Some(s) = st.subs.get_mut(sub) {
                s.paced = false;
            }
        }
        self.work.notify_one();
    }

    /// Something may be given out again (a pause ended).
    pub fn nudge(&self) {
        self.work.notify_one();
    }

    /// Subscriptions that may take no more now (their share is full, or their receiver
    /// could not be reached just now, or it asked for a pause): left out of leases.
    pub fn full(&self) -> Vec<String> {
        let now = crate::now_ms();
        let mut names = self.unreachable.open(now);
        names.extend(self.paused.paused(now));
        let mut st = self.state();
        let ahead_ms = crate::subscription::rate_limit::LEASE_AHEAD.as_millis() as i64;
        st.next_turns.retain(|_, (at, _)| *at > now);
        names.extend(st.next_turns.iter().filter(|(_, (at, _))| *at - ahead_ms > now).map(|(name, _)| name.clone()));
        let share = st.share(self.concurrency);
        names.extend(st.subs.iter().filter(|(_, s)| s.load() >= share).map(|(name, _)| name.clone()));
        let busy = |name: &String| st.subs.get(name).is_some_and(|s| s.load() > 0);
        names.extend(self.unreachable.probing(now).into_iter().filter(busy));
        names
    }

    /// How many more deliveries may be leased from the store now.
    pub fn room(&self) -> usize {
        self.capacity.saturating_sub(self.state().load)
    }

    /// Resolves when there may be something for `next`.
    pub async fn work_arrived(&self) {
        self.work.notified().await;
    }

    /// Resolves when `room` may have grown.
    pub async fn room_freed(&self) {
        self.room.notified().await;
    }

    /// Everything queued and not yet given out (at shutdown: their leases go back).
    pub fn drain(&self) -> Vec<Leased> {
        let mut st = self.state();
        let mut all = Vec::new();
        for s in st.subs.values_mut() {
            all.extend(s.queued.drain(..));
            s.turns_ready.clear();
        }
        st.load -= all.len();
        st.turns.clear();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredRequest;

    fn leased(sub: &str, n: usize) -> Vec<Leased> {
        (0..n)
            .map(|i| Leased {
                id: format!("{sub}-{i}"),
                event_uuid: String::new(),
                subscription: sub.into(),
                topic: "T".into(),
                attempt: 1,
                send_by: i64::MAX,
                lease_until: i64::MAX,
                request: StoredRequest {
                    method: "POST".into(),
                    url: "http://h/".into(),
                    headers: vec![],
                    body: None,
                    sensitive: vec![],
                    masked: vec![],
                },
            })
            .collect()
    }

    #[test]
    fn a_busy_subscription_keeps_a_slice_free_for_the_others() {
        let q = WorkQueue::new(16);
        q.push(leased("slow", 40), &|_| false);
        let mut slow = 0;
        while q.next().is_some() {
            slow += 1;
        }
        assert_eq!(slow, 14, "alone, it gets all but an eighth");
        q.push(leased("fast", 3), &|_| false);
        let fast: Vec<String> = std::iter::from_fn(|| q.next()).map(|d| d.subscription).collect();
        assert_eq!(fast, ["fast", "fast", "fast"], "the newcomer is served at once");
        assert!(!q.reserve("slow"), "a subscription over its share (14 / 2) takes no fresh work");
        assert!(q.full().contains(&"slow".to_string()));
        for _ in 0..7 {
            q.done("slow");
        }
        assert_eq!(q.next(), None, "at its share of two busy subscriptions (7), with 7 in flight");
        q.done("slow");
        assert_eq!(q.next().map(|d| d.subscription), Some("slow".into()), "below it again");
    }

    #[test]
    fn deliveries_that_would_wait_past_their_send_by_are_set_aside_for_giving_back() {
        let q = WorkQueue::new(16);
        let mut two = leased("crm", 2);
        two[0].send_by = 1_000;
        two[1].send_by = 9_000;
        q.push(two, &|_| true);
        let room = q.room();
        q.set_aside_if_stale_by("crm", 5_000, 0);
        let late: Vec<String> = q.take_stale().into_iter().map(|d| d.id).collect();
        assert_eq!(late, ["crm-0"], "only the one that must start before the turn");
        assert_eq!(q.room(), room, "counted until it is done");
        q.done("crm");
        assert_eq!(q.room(), room + 1);
        assert_eq!(q.pacer_waiting("crm"), Some(1), "the other still waits for its turn");
        let mut early = leased("crm", 1);
        early[0].send_by = 1_000;
        q.push(early, &|_| true);
        q.set_aside_if_stale_by("crm", 20_000, 1);
        assert_eq!(q.take_stale().len(), 1, "the first has the turn claimed: only the one after it goes");
    }

    #[test]
    fn subscriptions_take_turns_and_reservations_settle() {
        let q = WorkQueue::new(64);
        q.push(leased("a", 3), &|_| false);
        q.push(leased("b", 3), &|_| false);
        let order: Vec<String> = (0..4).filter_map(|_| q.next()).map(|d| d.subscription).collect();
        assert_eq!(order, ["a", "b", "a", "b"]);
        assert!(q.reserve("c"));
        let before = q.room();
        q.settle(&["c".to_string()], leased("c", 1));
        assert_eq!(q.room(), before, "the reservation became a queued delivery");
        for d in ["a", "b", "a", "b"] {
            q.done(d);
        }
        assert_eq!(q.drain().len(), 3);
        assert_eq!(q.room(), 128);
    }
}
