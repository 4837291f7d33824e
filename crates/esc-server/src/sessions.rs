//! Open sessions: an environment evaluated once at `open`, read any number of times until it
//! expires, as in Pulumi Cloud. Ids are 128 random bits, since an id is all a reader needs
//! besides a token. The table is bounded in count and in bytes (each session weighs its encoded
//! size): past either, the sessions closest to expiry go, so repeated opens cannot grow the
//! server without end.

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
    /// The session's weight against the byte budget.
    bytes: usize,
}

#[derive(Debug)]
pub(crate) struct Sessions {
    table: Mutex<Table>,
    max: usize,
    max_bytes: usize,
    random: SystemRandom,
}

#[derive(Debug, Default)]
struct Table {
    sessions: HashMap<String, Session>,
    bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("the system random source failed")]
    Random,
    #[error(
        "the evaluated environment is {bytes} bytes encoded, more than the server holds for all \
         open sessions ({max} bytes)"
    )]
    TooLarge { bytes: usize, max: usize },
}

impl Table {
    fn remove(&mut self, id: &str) {
        if let Some(s) = self.sessions.remove(id) {
            self.bytes = self.bytes.saturating_sub(s.bytes);
        }
    }

    fn drop_expired(&mut self, now: Instant) {
        let bytes = &mut self.bytes;
        self.sessions.retain(|_, s| {
            let live = s.expires > now;
            if !live {
                *bytes = bytes.saturating_sub(s.bytes);
            }
            live
        });
    }

    fn drop_closest_to_expiry(&mut self) {
        let oldest = (self.sessions.iter())
            .min_by_key(|(_, s)| s.expires)
            .map(|(id, _)| id.clone());
        if let Some(id) = oldest {
            self.remove(&id);
        }
    }
}

impl Sessions {
    pub(crate) fn new(max: usize, max_bytes: usize) -> Sessions {
        Sessions {
            table: Mutex::new(Table::default()),
            max,
            max_bytes,
            random: SystemRandom::new(),
        }
    }

    /// Stores `opened` for `duration`; returns the session id.
    pub(crate) fn open(
        &self,
        environment: String,
        duration: Duration,
        opened: Opened,
    ) -> Result<String, OpenError> {
        let bytes = opened.encoded_len();
        if bytes > self.max_bytes {
            return Err(OpenError::TooLarge {
                bytes,
                max: self.max_bytes,
            });
        }
        let mut id = [0u8; 16];
        self.random.fill(&mut id).map_err(|_| OpenError::Random)?;
        let id = hex::encode(id);
        let now = Instant::now();
        let mut table = self.table.lock().expect("sessions lock");
        table.drop_expired(now);
        while !table.sessions.is_empty()
            && (table.sessions.len() >= self.max || table.bytes + bytes > self.max_bytes)
        {
            tracing::debug!("session table full: dropping the session closest to expiry");
            table.drop_closest_to_expiry();
        }
        table.bytes += bytes;
        table.sessions.insert(
            id.clone(),
            Session {
                environment,
                expires: now.checked_add(duration).unwrap_or(now),
                opened: Arc::new(opened),
                bytes,
            },
        );
        Ok(id)
    }

    /// The session `id` of `environment`, unless unknown or expired.
    pub(crate) fn get(&self, id: &str, environment: &str) -> Option<Arc<Opened>> {
        let mut table = self.table.lock().expect("sessions lock");
        let session = table.sessions.get(id)?;
        if session.expires <= Instant::now() {
            table.remove(id);
            return None;
        }
        (session.environment == environment).then(|| Arc::clone(&session.opened))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.lock().unwrap().sessions.len()
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.table.lock().unwrap().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_read_only_for_its_own_environment_and_until_it_expires() {
        let sessions = Sessions::new(10, 1 << 20);
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
        let sessions = Sessions::new(2, 1 << 20);
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

    fn opened(text: &str) -> Opened {
        let mut opened = Opened::default();
        opened.properties.insert(
            "v".into(),
            esc_eval::Value::new(esc_eval::Data::String(text.to_owned())),
        );
        opened
    }

    #[test]
    fn sessions_past_the_byte_budget_drop_those_closest_to_expiry() {
        let weight = opened(&"x".repeat(1000)).encoded_len();
        let sessions = Sessions::new(100, 2 * weight + weight / 2);
        let hour = Duration::from_secs(3600);
        let first = (sessions.open(
            "e".into(),
            Duration::from_secs(60),
            opened(&"x".repeat(1000)),
        ))
        .unwrap();
        let second = (sessions.open("e".into(), hour, opened(&"x".repeat(1000)))).unwrap();
        let third = (sessions.open("e".into(), hour, opened(&"x".repeat(1000)))).unwrap();
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions.bytes(), 2 * weight);
        assert!(sessions.get(&first, "e").is_none());
        assert!(sessions.get(&second, "e").is_some());
        assert!(sessions.get(&third, "e").is_some());
    }

    #[test]
    fn an_environment_larger_than_the_whole_budget_is_refused_and_nothing_is_dropped() {
        let sessions = Sessions::new(100, 500);
        let small = sessions
            .open("e".into(), Duration::from_secs(60), opened("x"))
            .unwrap();
        let err = (sessions.open(
            "e".into(),
            Duration::from_secs(60),
            opened(&"s".repeat(600)),
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("more than the server holds for all open sessions (500 bytes)"),
            "{err}"
        );
        assert!(!err.to_string().contains("sss"));
        assert!(sessions.get(&small, "e").is_some());
    }
}
