//! One cache for the provider's reads: a bounded TTL store that coalesces concurrent fetches
//! of the same key ([`Store`]). The fetch stage keeps ESC environments in it
//! (`fetch::cached`), the credential stage auth Secrets (`credential::cached`).
//!
//! - **Coalescing**: identical calls made while one is in flight wait for it and share its
//!   result, error included. Errors are never kept once the call is over.
//! - **Caching**: a good result is kept for a short TTL, then fetched again.
//! - **Bounds**: entry count and estimated bytes; the least recently used entry goes first.
//!
//! See `docs/caching.md` for the trade-offs, notably with dynamic `fn::open` credentials.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// How long results are kept and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheOptions {
    /// How long a good result is given out again; zero keeps nothing (identical concurrent
    /// calls are still coalesced).
    pub ttl: Duration,
    /// Most entries kept.
    pub max_entries: usize,
    /// Most bytes kept, estimated.
    pub max_bytes: usize,
}

impl CacheOptions {
    /// Environments: 30 s, well under the driver's 2-minute rotation (so rotation sees changes
    /// within one poll plus 30 s) yet long enough to absorb a node's worth of pods starting
    /// together; 1000 entries; 32 MiB, so that with the 48 MiB in-flight budget and the
    /// baseline the daemon stays well inside the chart's 128 MiB.
    pub fn environments() -> Self {
        CacheOptions {
            ttl: Duration::from_secs(30),
            max_entries: 1000,
            max_bytes: 32 << 20,
        }
    }

    /// Auth Secrets: 10 s, so a rotated token is picked up quickly; 1000 entries; 1 MiB.
    pub fn auth_secrets() -> Self {
        CacheOptions {
            ttl: Duration::from_secs(10),
            max_entries: 1000,
            max_bytes: 1 << 20,
        }
    }
}

/// How a lookup was answered, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// From a kept result.
    Hit,
    /// Fetched by this caller.
    Miss,
    /// Shared with an identical call already in flight.
    Coalesced,
}

impl Lookup {
    pub fn label(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Miss => "miss",
            Lookup::Coalesced => "coalesced",
        }
    }
}

/// A bounded TTL store with coalescing of concurrent fetches of the same key.
pub struct Store<K, V, E> {
    options: CacheOptions,
    state: Mutex<State<K, V, E>>,
}

impl<K, V, E> fmt::Debug for Store<K, V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("Store")
            .field("options", &self.options)
            .field("entries", &state.ready.len())
            .field("bytes", &state.bytes)
            .field("in_flight", &state.in_flight.len())
            .finish()
    }
}

type Shared<V, E> = Option<Result<V, E>>;

struct State<K, V, E> {
    ready: HashMap<K, Ready<V>>,
    bytes: usize,
    tick: u64,
    in_flight: HashMap<K, Flight<V, E>>,
    next_flight: u64,
}

enum Role<V, E> {
    Lead(u64, watch::Sender<Shared<V, E>>),
    Wait(watch::Receiver<Shared<V, E>>),
}

struct Ready<V> {
    value: V,
    stored: Instant,
    bytes: usize,
    used: u64,
}

struct Flight<V, E> {
    id: u64,
    result: watch::Receiver<Shared<V, E>>,
}

/// Removes the leader's in-flight entry however the leader ends (done, failed, cancelled);
/// its sender drops after, so waiters of a cancelled leader wake and try again.
struct Leading<'a, K: Eq + Hash, V, E> {
    store: &'a Store<K, V, E>,
    key: &'a K,
    id: u64,
    sender: watch::Sender<Shared<V, E>>,
}

impl<K, V, E> Store<K, V, E> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<K, V, E>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<K: Eq + Hash, V, E> Drop for Leading<'_, K, V, E> {
    fn drop(&mut self) {
        let id = self.id;
        let mut state = self.store.lock();
        if state.in_flight.get(self.key).is_some_and(|f| f.id == id) {
            state.in_flight.remove(self.key);
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone, E: Clone> Store<K, V, E> {
    pub fn new(options: CacheOptions) -> Self {
        Store {
            options,
            state: Mutex::new(State {
                ready: HashMap::new(),
                bytes: 0,
                tick: 0,
                in_flight: HashMap::new(),
                next_flight: 0,
            }),
        }
    }

    pub fn options(&self) -> &CacheOptions {
        &self.options
    }

    /// The kept value for `key` and when it was stored, if it is younger than the TTL.
    pub fn get(&self, key: &K) -> Option<(V, Instant)> {
        let mut state = self.lock();
        state.tick += 1;
        let tick = state.tick;
        let ttl = self.options.ttl;
        match state.ready.get_mut(key) {
            Some(entry) if entry.stored.elapsed() < ttl => {
                entry.used = tick;
                Some((entry.value.clone(), entry.stored))
            }
            Some(_) => {
                let old = state.ready.remove(key).map_or(0, |e| e.bytes);
                state.bytes -= old;
                None
            }
            None => None,
        }
    }

    /// Whether anything is ever kept (a zero TTL or no entries: a store that only coalesces).
    fn keeps_anything(&self) -> bool {
        !self.options.ttl.is_zero() && self.options.max_entries > 0
    }

    /// Keeps `value` for `key` (replacing any), evicting expired then least recently used
    /// entries to stay within bounds; a value larger than the whole byte bound is not kept.
    pub fn insert(&self, key: K, value: V, bytes: usize) {
        let options = &self.options;
        if !self.keeps_anything() || bytes > options.max_bytes {
            return;
        }
        let mut state = self.lock();
        if let Some(old) = state.ready.remove(&key) {
            state.bytes -= old.bytes;
        }
        let ttl = options.ttl;
        if state.ready.len() >= options.max_entries || state.bytes + bytes > options.max_bytes {
            state.ready.retain(|_, e| e.stored.elapsed() < ttl);
            state.bytes = state.ready.values().map(|e| e.bytes).sum();
        }
        while state.ready.len() >= options.max_entries || state.bytes + bytes > options.max_bytes {
            let Some(oldest) = state
                .ready
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(gone) = state.ready.remove(&oldest) {
                state.bytes -= gone.bytes;
            }
        }
        state.tick += 1;
        let used = state.tick;
        state.bytes += bytes;
        state.ready.insert(
            key,
            Ready {
                value,
                stored: Instant::now(),
                bytes,
                used,
            },
        );
    }

    /// Entries kept now, and their estimated bytes.
    pub fn size(&self) -> (usize, usize) {
        let state = self.lock();
        (state.ready.len(), state.bytes)
    }

    /// The kept value, or the result of an identical fetch in flight, or `fetch`'s own. A
    /// caller waiting on another's fetch stops at its own `deadline` with `timed_out()`; if
    /// that fetch is cancelled, the waiters try again (one of them fetching).
    pub async fn get_or_fetch<F, Fut>(
        &self,
        key: &K,
        deadline: Instant,
        weigh: impl Fn(&V) -> usize,
        fetch: F,
        timed_out: impl Fn() -> E,
    ) -> (Result<V, E>, Lookup)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let mut fetch = Some(fetch);
        loop {
            if let Some((value, _)) = self.get(key) {
                return (Ok(value), Lookup::Hit);
            }
            let role = {
                let mut state = self.lock();
                match state.in_flight.get(key) {
                    Some(flight) => Role::Wait(flight.result.clone()),
                    None => {
                        state.next_flight += 1;
                        let id = state.next_flight;
                        let (sender, result) = watch::channel(None);
                        state.in_flight.insert(key.clone(), Flight { id, result });
                        Role::Lead(id, sender)
                    }
                }
            };
            let mut result = match role {
                Role::Wait(result) => result,
                Role::Lead(id, sender) => {
                    let leading = Leading {
                        store: self,
                        key,
                        id,
                        sender,
                    };
                    let Some(fetch) = fetch.take() else {
                        unreachable!("a caller leads at most once: it returns after");
                    };
                    let result = fetch().await;
                    // Weighing walks the whole value: not for one that will not be kept.
                    if let Ok(value) = &result
                        && self.keeps_anything()
                    {
                        self.insert(key.clone(), value.clone(), weigh(value));
                    }
                    leading.sender.send_replace(Some(result.clone()));
                    drop(leading);
                    return (result, Lookup::Miss);
                }
            };
            match tokio::time::timeout_at(deadline, result.wait_for(Option::is_some)).await {
                Ok(Ok(shared)) => {
                    if let Some(shared) = shared.as_ref() {
                        return (shared.clone(), Lookup::Coalesced);
                    }
                }
                // The leader was cancelled before it finished: try again.
                Ok(Err(_)) => {}
                Err(_) => return (Err(timed_out()), Lookup::Coalesced),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(ttl_ms: u64, max_entries: usize, max_bytes: usize) -> CacheOptions {
        CacheOptions {
            ttl: Duration::from_millis(ttl_ms),
            max_entries,
            max_bytes,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_after_the_ttl() {
        let store: Store<u32, u32, ()> = Store::new(options(1000, 10, 100));
        store.insert(1, 10, 1);
        assert_eq!(store.get(&1).map(|(v, _)| v), Some(10));
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(store.get(&1).is_some());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(store.get(&1).is_none());
        assert_eq!(store.size(), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_least_recently_used_entry_goes_first_to_stay_within_bounds() {
        let store: Store<u32, u32, ()> = Store::new(options(60_000, 3, 100));
        for k in 1..=3 {
            store.insert(k, k, 10);
        }
        assert!(store.get(&1).is_some());
        store.insert(4, 4, 10);
        assert!(store.get(&2).is_none(), "2 was used least recently");
        assert!(store.get(&1).is_some() && store.get(&3).is_some() && store.get(&4).is_some());
        // Bytes: 30 kept; 80 more needs room for 80, so two of the three go.
        store.insert(5, 5, 80);
        let (entries, bytes) = store.size();
        assert!(bytes <= 100 && entries <= 3, "{entries} {bytes}");
        assert!(store.get(&5).is_some());
        // Larger than the whole bound: not kept, nothing evicted for it.
        store.insert(6, 6, 101);
        assert!(store.get(&6).is_none());
        assert!(store.get(&5).is_some());
    }

    #[tokio::test]
    async fn a_zero_ttl_keeps_nothing() {
        let store: Store<u32, u32, ()> = Store::new(options(0, 10, 100));
        store.insert(1, 1, 1);
        assert!(store.get(&1).is_none());
    }

    #[tokio::test]
    async fn a_store_that_keeps_nothing_never_weighs_what_it_fetched() {
        let weighed = std::sync::atomic::AtomicUsize::new(0);
        let weigh = |_: &u32| {
            weighed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            1
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        for (ttl_ms, max_entries, weighs) in [(0, 10, 0), (60_000, 0, 0), (60_000, 10, 1)] {
            weighed.store(0, std::sync::atomic::Ordering::Relaxed);
            let store: Store<u32, u32, ()> = Store::new(options(ttl_ms, max_entries, 100));
            let (result, _) = store
                .get_or_fetch(&1, deadline, weigh, || async { Ok(7) }, || ())
                .await;
            assert_eq!(result, Ok(7));
            assert_eq!(
                weighed.load(std::sync::atomic::Ordering::Relaxed),
                weighs,
                "ttl {ttl_ms} ms, {max_entries} entries"
            );
        }
    }
}
