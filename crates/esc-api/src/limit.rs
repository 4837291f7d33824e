//! At most N calls in flight per ESC API origin, so that a node full of pods starting at once
//! cannot flood the API; waiting for a turn respects the caller's deadline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use url::Url;

#[derive(Debug)]
pub(crate) struct Limiter {
    /// 0: no limit.
    per_origin: usize,
    semaphores: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Limiter {
    pub(crate) fn new(per_origin: usize) -> Self {
        Limiter {
            per_origin,
            semaphores: Mutex::default(),
        }
    }

    /// A turn to call `api`'s origin, held until dropped; `Err` if the deadline passes first.
    pub(crate) async fn acquire(
        &self,
        api: &Url,
        deadline: Instant,
    ) -> Result<Option<OwnedSemaphorePermit>, ()> {
        if self.per_origin == 0 {
            return Ok(None);
        }
        let semaphore = {
            let mut map = self.semaphores.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(api.origin().ascii_serialization())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_origin)))
                .clone()
        };
        match tokio::time::timeout_at(deadline, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            // The semaphore is never closed; treat it like a deadline anyway.
            Ok(Err(_)) | Err(_) => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn turns_are_per_origin_and_waiting_respects_the_deadline() {
        let limiter = Limiter::new(1);
        let a: Url = "https://a.example/api/esc".parse().unwrap();
        let a2: Url = "https://a.example/other".parse().unwrap();
        let b: Url = "https://b.example/api/esc".parse().unwrap();
        let soon = || Instant::now() + Duration::from_millis(50);
        let held = limiter.acquire(&a, soon()).await.unwrap();
        assert!(held.is_some());
        assert!(limiter.acquire(&a2, soon()).await.is_err(), "same origin");
        assert!(limiter.acquire(&b, soon()).await.is_ok(), "another origin");
        drop(held);
        assert!(limiter.acquire(&a, soon()).await.is_ok());
        assert_eq!(
            Limiter::new(0)
                .acquire(&a, soon())
                .await
                .map(|p| p.is_none()),
            Ok(true)
        );
    }
}
