//! Open sessions: an environment evaluated once at `open`, read any number of times until it
//! expires, as in Pulumi Cloud. Ids are 128 random bits, since an id is all a reader needs
//! besides a token. The table is bounded: when full, the session closest to expiry goes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};

use crate::wire::Opened;

#[derive(Debug)]
struct Session {
    /// `org/project/env`, which a read must name again.
    environment: String,
    expires: Instant,
    opened: Arc<Opened>,
}

#[derive(Debug)]
pub(crate) struct Sessions {
    table: Mutex<HashMap<String, Session>>,
    max: usize,
    random: SystemRandom,
}

#[derive(Debug, thiserror::Error)]
#[error("the system random source failed")]
pub(crate) struct RandomFailed;

impl Sessions {
    pub(crate) fn new(max: usize) -> Sessions {
        Sessions {
            table: Mutex::new(HashMap::new()),
            max,
            random: SystemRandom::new(),
        }
    }

    /// Stores `opened` for `duration`; returns the session id.
    pub(crate) fn open(
        &self,
        environment: String,
        duration: Duration,
        opened: Opened,
    ) -> Result<String, RandomFailed> {
        let mut bytes = [0u8; 16];
        self.random.fill(&mut bytes).map_err(|_| RandomFailed)?;
        let id = hex::encode(bytes);
        let now = Instant::now();
        let mut table = self.table.lock().expect("sessions lock");
        table.retain(|_, s| s.expires > now);
        if table.len() >= self.max
            && let Some(oldest) = table
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(id, _)| id.clone())
        {
            tracing::debug!("session table full: dropping the session closest to expiry");
            table.remove(&oldest);
        }
        table.insert(
            id.clone(),
            Session {
                environment,
                expires: now.checked_add(duration).unwrap_or(now),
                opened: Arc::new(opened),
            },
        );
        Ok(id)
    }

    /// The session `id` of `environment`, unless unknown or expired.
    pub(crate) fn get(&self, id: &str, environment: &str) -> Option<Arc<Opened>> {
        let mut table = self.table.lock().expect("sessions lock");
        let session = table.get(id)?;
        if session.expires <= Instant::now() {
            table.remove(id);
            return None;
        }
        (session.environment == environment).then(|| Arc::clone(&session.opened))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_read_only_for_its_own_environment_and_until_it_expires() {
        let sessions = Sessions::new(10);
        let id = sessions
            .open("o/p/e".into(), Duration::from_millis(50), Opened::default())
            .unwrap();
        assert_eq!(id.len(), 32);
        assert!(sessions.get(&id, "o/p/e").is_some());
        assert!(sessions.get(&id, "o/p/other").is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(sessions.get(&id, "o/p/e").is_none());
    }

    #[test]
    fn a_full_table_drops_the_session_closest_to_expiry() {
        let sessions = Sessions::new(2);
        let hour = Duration::from_secs(3600);
        let short = sessions
            .open("e".into(), Duration::from_secs(60), Opened::default())
            .unwrap();
        let long = sessions.open("e".into(), hour, Opened::default()).unwrap();
        let newest = sessions.open("e".into(), hour, Opened::default()).unwrap();
        assert_eq!(sessions.len(), 2);
        assert!(sessions.get(&short, "e").is_none());
        assert!(sessions.get(&long, "e").is_some());
        assert!(sessions.get(&newest, "e").is_some());
    }
}
