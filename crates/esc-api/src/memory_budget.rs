//! A node-wide bound on the memory that mounts hold at once, weighted by bytes.
//!
//! Every pod on a node shares one daemon, and its pod has a memory limit: without a shared
//! bound, 32 hostile mounts each within their own limits still add up past it. Work that holds
//! memory in proportion to its input (a reply's body and its decoded values, rendered files)
//! reserves those bytes first and waits, until its deadline, while others hold too much; work
//! that could never fit is refused at once. The estimate is the caller's, so this bounds what
//! the caller counts, not the allocator.
//!
//! Work that already holds memory waits only [`HOLDING_PATIENCE`] for more: waiting while
//! holding is how mounts stalled each other (each holding its reply's body, each waiting for
//! decoding room the others held), so a holder gives up, releases what it held, and the others
//! go on.

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
    /// Bytes reserved now, and the most ever reserved at once.
    used: Mutex<(usize, usize)>,
    freed: Notify,
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
    /// Others held the memory until the deadline.
    #[error(
        "other mounts held the node-wide memory budget ({limit} bytes, --max-memory-in-flight) \
         until the deadline"
    )]
    Busy { needed: usize, limit: usize },
}

impl MemoryBudget {
    /// A budget of `limit` bytes; 0 means no limit.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(MemoryBudget {
            limit,
            used: Mutex::new((0, 0)),
            freed: Notify::new(),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes reserved now.
    pub fn used(&self) -> usize {
        self.lock().0
    }

    /// The most bytes ever reserved at once.
    pub fn peak(&self) -> usize {
        self.lock().1
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, usize)> {
        self.used.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An empty reservation, to [`Reservation::grow`] as work proceeds.
    pub fn empty(self: &Arc<Self>) -> Reservation {
        Reservation {
            budget: Arc::clone(self),
            bytes: 0,
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

    fn try_take(&self, bytes: usize, held: usize) -> Result<bool, MemoryError> {
        if self.limit == 0 {
            return Ok(true);
        }
        let needed = held.saturating_add(bytes);
        if needed > self.limit {
            return Err(MemoryError::TooLarge {
                needed,
                limit: self.limit,
            });
        }
        let mut used = self.lock();
        match used.0.checked_add(bytes).filter(|n| *n <= self.limit) {
            Some(n) => {
                *used = (n, used.1.max(n));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn release(&self, bytes: usize) {
        if self.limit == 0 || bytes == 0 {
            return;
        }
        let mut used = self.lock();
        used.0 = used.0.saturating_sub(bytes);
        drop(used);
        self.freed.notify_waiters();
    }
}

/// Bytes held against a [`MemoryBudget`], given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Reservation {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Reserves `more` bytes on top of what is held, waiting until `deadline`, or for at most
    /// [`HOLDING_PATIENCE`] when something is held already.
    pub async fn grow(&mut self, more: usize, deadline: Instant) -> Result<(), MemoryError> {
        let deadline = if self.bytes > 0 {
            deadline.min(Instant::now() + HOLDING_PATIENCE)
        } else {
            deadline
        };
        loop {
            let freed = self.budget.freed.notified();
            if self.budget.try_take(more, self.bytes)? {
                self.bytes = self.bytes.saturating_add(more);
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(MemoryError::Busy {
                    needed: self.bytes.saturating_add(more),
                    limit: self.budget.limit,
                });
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
    async fn holders_waiting_for_each_other_give_up_after_the_holding_patience_not_the_deadline() {
        let budget = MemoryBudget::new(100);
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut a, mut b) = (
            budget.reserve(50, deadline).await.unwrap(),
            budget.reserve(50, deadline).await.unwrap(),
        );
        // Each holds half and wants more than the other leaves: without a bound on waiting
        // while holding, both would wait for the full 30 s.
        let started = Instant::now();
        let (ra, rb) = tokio::join!(a.grow(10, deadline), b.grow(10, deadline));
        assert!(matches!(ra, Err(MemoryError::Busy { .. })), "{ra:?}");
        assert!(matches!(rb, Err(MemoryError::Busy { .. })), "{rb:?}");
        assert_eq!(started.elapsed(), HOLDING_PATIENCE);
        // One that holds nothing waits until its own deadline for a holder to finish.
        drop(b);
        let late = Instant::now() + Duration::from_secs(10);
        let waiter = tokio::spawn({
            let budget = Arc::clone(&budget);
            async move { budget.reserve(60, late).await.map(|r| r.bytes()) }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(a);
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
