//! A node-wide bound on the memory that mounts hold at once, weighted by bytes.
//!
//! Every pod on a node shares one daemon, and its pod has a memory limit: without a shared
//! bound, 32 hostile mounts each within their own limits still add up past it. Work that holds
//! memory in proportion to its input (a reply's body and its decoded values, rendered files)
//! reserves those bytes first and waits, until its deadline, while others hold too much; work
//! that could never fit is refused at once. The estimate is the caller's, so this bounds what
//! the caller counts, not the allocator.
//!
//! Waiting while holding is how mounts stalled each other (each holding its reply's body, each
//! waiting for decoding room the others held), so one holder at a time may wait: the oldest
//! that needs to, for at most [`HOLDING_PATIENCE`]. What it waits for is kept for it (others
//! take only what leaves it room), and a younger holder that would have to wait too is refused
//! at once and releases what it held, so the mount furthest along finishes first. Work that
//! holds nothing waits until its deadline, as it stalls no one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a reservation that holds bytes waits for more before it is refused as busy.
pub const HOLDING_PATIENCE: Duration = Duration::from_secs(2);

/// The shared budget. Cheap to share behind an [`Arc`].
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    state: Mutex<State>,
    freed: Notify,
    /// Each reservation's age: a lower ticket is older.
    tickets: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// Bytes reserved now, and the most ever reserved at once.
    used: usize,
    peak: usize,
    /// The one holder allowed to wait (its ticket), and what it needs.
    waiter: Option<(u64, usize)>,
}

/// What a reservation may do now.
enum Take {
    Granted,
    Wait,
    /// An older holder waits already: waiting too could stall both.
    Refused,
}

/// Why a reservation was not granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// More than the whole budget: it can never fit.
    #[error(
        "it needs about {needed} bytes of memory, over the node-wide limit of {limit} bytes \
         (--max-memory-in-flight)"
    )]
    TooLarge { needed: usize, limit: usize },
    /// Others held the memory: until the deadline, or while this one held some already.
    #[error(
        "other mounts held the node-wide memory budget ({limit} bytes, --max-memory-in-flight) \
         while this one waited"
    )]
    Busy { needed: usize, limit: usize },
}

impl MemoryBudget {
    /// A budget of `limit` bytes; 0 means no limit.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(MemoryBudget {
            limit,
            state: Mutex::new(State::default()),
            freed: Notify::new(),
            tickets: AtomicU64::new(0),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes reserved now.
    pub fn used(&self) -> usize {
        self.lock().used
    }

    /// The most bytes ever reserved at once.
    pub fn peak(&self) -> usize {
        self.lock().peak
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An empty reservation, to [`Reservation::grow`] as work proceeds.
    pub fn empty(self: &Arc<Self>) -> Reservation {
        Reservation {
            budget: Arc::clone(self),
            bytes: 0,
            ticket: self.tickets.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Reserves `bytes`, waiting until `deadline` for others to release enough.
    pub async fn reserve(
        self: &Arc<Self>,
        bytes: usize,
        deadline: Instant,
    ) -> Result<Reservation, MemoryError> {
        let mut reservation = self.empty();
        reservation.grow(bytes, deadline).await?;
        Ok(reservation)
    }

    /// Takes `bytes` for the reservation `ticket`, holding `held`. Room kept for the waiting
    /// holder is not taken by others.
    fn try_take(&self, bytes: usize, held: usize, ticket: u64) -> Result<Take, MemoryError> {
        if self.limit == 0 {
            return Ok(Take::Granted);
        }
        let needed = held.saturating_add(bytes);
        if needed > self.limit {
            return Err(MemoryError::TooLarge {
                needed,
                limit: self.limit,
            });
        }
        let mut state = self.lock();
        let kept = match state.waiter {
            Some((waiter, kept)) if waiter != ticket => kept,
            _ => 0,
        };
        if let Some(n) = state
            .used
            .checked_add(bytes)
            .filter(|n| n.saturating_add(kept) <= self.limit)
        {
            state.used = n;
            state.peak = state.peak.max(n);
            return Ok(Take::Granted);
        }
        Ok(match state.waiter {
            _ if held == 0 => Take::Wait,
            Some((waiter, _)) if waiter < ticket => Take::Refused,
            Some((waiter, _)) if waiter == ticket => Take::Wait,
            _ => {
                // The oldest holder that needs to wait: its need is kept for it from now on
                // (a younger waiter, displaced, is refused when it looks again).
                state.waiter = Some((ticket, bytes));
                drop(state);
                self.freed.notify_waiters();
                Take::Wait
            }
        })
    }

    /// `ticket` stops waiting, granted or not, if it still is the waiter.
    fn stop_waiting(&self, ticket: u64) {
        let mut state = self.lock();
        if state.waiter.is_some_and(|(waiter, _)| waiter == ticket) {
            state.waiter = None;
            drop(state);
            self.freed.notify_waiters();
        }
    }

    fn release(&self, bytes: usize) {
        if self.limit == 0 || bytes == 0 {
            return;
        }
        let mut state = self.lock();
        state.used = state.used.saturating_sub(bytes);
        drop(state);
        self.freed.notify_waiters();
    }
}

/// A holder's claim to wait, given up when it stops waiting.
struct Waiting<'a>(&'a MemoryBudget, u64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.stop_waiting(self.1);
    }
}

/// Bytes held against a [`MemoryBudget`], given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: usize,
    ticket: u64,
}

impl Reservation {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Reserves `more` bytes on top of what is held, waiting until `deadline`, or for at most
    /// [`HOLDING_PATIENCE`] when something is held already.
    pub async fn grow(&mut self, more: usize, deadline: Instant) -> Result<(), MemoryError> {
        let holding = self.bytes > 0;
        let deadline = if holding {
            deadline.min(Instant::now() + HOLDING_PATIENCE)
        } else {
            deadline
        };
        let busy = MemoryError::Busy {
            needed: self.bytes.saturating_add(more),
            limit: self.budget.limit,
        };
        // Once a holder waits, this clears its claim to wait, however the wait ends.
        let mut waiting = None;
        loop {
            let freed = self.budget.freed.notified();
            match self.budget.try_take(more, self.bytes, self.ticket)? {
                Take::Granted => {
                    self.bytes = self.bytes.saturating_add(more);
                    return Ok(());
                }
                Take::Refused => return Err(busy),
                Take::Wait if holding => {
                    waiting.get_or_insert_with(|| Waiting(&self.budget, self.ticket));
                }
                Take::Wait => {}
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(busy);
            }
        }
    }

    /// Takes over what `other` holds, so that it is released with `self`. Reservations on two
    /// different budgets cannot be merged: `other` is then released at once.
    pub fn absorb(&mut self, mut other: Reservation) {
        if Arc::ptr_eq(&self.budget, &other.budget) {
            self.bytes = self.bytes.saturating_add(std::mem::take(&mut other.bytes));
        }
    }

    /// Gives back all but `keep` bytes.
    pub fn shrink_to(&mut self, keep: usize) {
        if keep < self.bytes {
            self.budget.release(self.bytes - keep);
            self.bytes = keep;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(50)
    }

    #[tokio::test]
    async fn reservations_past_the_budget_wait_and_are_refused_at_the_deadline() {
        let budget = MemoryBudget::new(100);
        let held = budget.reserve(60, soon()).await.unwrap();
        assert_eq!(budget.used(), 60);
        let err = budget.reserve(50, soon()).await.unwrap_err();
        assert!(matches!(err, MemoryError::Busy { .. }), "{err}");
        drop(held);
        assert_eq!(budget.used(), 0);
        let mut r = budget.reserve(50, soon()).await.unwrap();
        r.grow(50, soon()).await.unwrap();
        assert_eq!(budget.used(), 100);
        r.shrink_to(10);
        assert_eq!(budget.used(), 10);
        assert_eq!(budget.peak(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn of_two_holders_waiting_for_each_other_the_second_is_refused_and_the_first_goes_on() {
        let budget = MemoryBudget::new(100);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut a = budget.reserve(50, deadline).await.unwrap();
        let mut b = budget.reserve(40, deadline).await.unwrap();
        // a needs 30 more, which only b's release can give: a waits, with its 30 kept for it.
        let first = tokio::spawn(async move { a.grow(30, deadline).await.map(|()| a) });
        tokio::time::sleep(Duration::from_millis(10)).await;
        // b would have to wait too: it is refused at once, and its release lets a go on.
        let started = Instant::now();
        assert!(matches!(
            b.grow(20, deadline).await,
            Err(MemoryError::Busy { .. })
        ));
        assert_eq!(started.elapsed(), Duration::ZERO);
        // Fresh work takes only what leaves a its room.
        assert!(budget.reserve(1, Instant::now()).await.is_err());
        drop(b);
        let a = first.await.unwrap().unwrap();
        assert_eq!((a.bytes(), budget.used()), (80, 80));
    }

    #[tokio::test(start_paused = true)]
    async fn a_holder_waits_at_most_the_holding_patience_and_fresh_work_until_its_deadline() {
        let budget = MemoryBudget::new(100);
        let deadline = Instant::now() + Duration::from_secs(30);
        let other = budget.reserve(60, deadline).await.unwrap();
        let mut holder = budget.reserve(30, deadline).await.unwrap();
        let started = Instant::now();
        assert!(matches!(
            holder.grow(20, deadline).await,
            Err(MemoryError::Busy { .. })
        ));
        assert_eq!(started.elapsed(), HOLDING_PATIENCE);
        drop(holder);
        // One that holds nothing waits until its own deadline for a holder to finish.
        let waiter = tokio::spawn({
            let budget = Arc::clone(&budget);
            async move {
                let late = Instant::now() + Duration::from_secs(10);
                budget.reserve(60, late).await.map(|r| r.bytes())
            }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(other);
        assert_eq!(waiter.await.unwrap().unwrap(), 60);
    }

    #[tokio::test]
    async fn a_reservation_larger_than_the_whole_budget_is_refused_at_once() {
        let budget = MemoryBudget::new(100);
        let err = budget.reserve(101, soon()).await.unwrap_err();
        assert_eq!(
            err,
            MemoryError::TooLarge {
                needed: 101,
                limit: 100
            }
        );
        assert!(err.to_string().contains("--max-memory-in-flight"), "{err}");
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn a_waiting_reservation_is_granted_when_another_is_released() {
        let budget = MemoryBudget::new(100);
        let held = budget.reserve(100, soon()).await.unwrap();
        let waiter = {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move {
                budget
                    .reserve(70, Instant::now() + Duration::from_secs(5))
                    .await
                    .map(|r| r.bytes())
            })
        };
        tokio::task::yield_now().await;
        drop(held);
        assert_eq!(waiter.await.unwrap(), Ok(70));
    }

    #[tokio::test]
    async fn an_absorbed_reservation_is_released_with_the_one_that_took_it() {
        let budget = MemoryBudget::new(100);
        let mut mount = budget.reserve(10, soon()).await.unwrap();
        mount.absorb(budget.reserve(30, soon()).await.unwrap());
        assert_eq!((mount.bytes(), budget.used()), (40, 40));
        mount.absorb(MemoryBudget::new(100).reserve(50, soon()).await.unwrap());
        assert_eq!((mount.bytes(), budget.used()), (40, 40));
        drop(mount);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn no_limit_grants_everything() {
        let budget = MemoryBudget::new(0);
        let r = budget.reserve(usize::MAX, soon()).await.unwrap();
        assert_eq!(r.bytes(), usize::MAX);
        drop(r);
    }
}
