//! SIGTERM (Kubernetes stopping the pod) and SIGINT (Ctrl-C). The handlers are installed when
//! [`Signals`] is made, so a signal that arrives right after start is never lost.
//!
//! The daemon receives them on a thread of its own ([`Signals::on_own_thread`]): a signal is
//! seen, and the shutdown deadline kept, even if every worker of the main runtime were busy
//! with synchronous work. Past the deadline that thread ends the process itself, without
//! waiting on anything that may be what stalled it (its last log line is given a moment).

use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;

#[derive(Debug)]
pub(crate) struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    pub(crate) fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the next signal and names it.
    pub(crate) async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }

    /// Receives signals on a thread with its own runtime and forwards their names. After the
    /// first, if the process still runs `deadline` later (or a moment after a second signal),
    /// the thread calls `last_words` and exits the process with status 1: the main runtime's
    /// orderly stop should have ended it before.
    pub(crate) fn on_own_thread(
        deadline: Duration,
        last_words: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<Forwarded> {
        let (tx, rx) = mpsc::unbounded_channel();
        // The handlers are installed on the thread (a runtime cannot start inside another);
        // its first message says whether that worked.
        let (ready_tx, ready) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("signals".to_owned())
            .spawn(move || {
                let installed = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|runtime| {
                        let signals = runtime.block_on(async { Signals::new() })?;
                        Ok((runtime, signals))
                    });
                let (runtime, mut signals) = match installed {
                    Ok(installed) => {
                        let _ = ready_tx.send(Ok(()));
                        installed
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let _ = tx.send(signals.recv().await);
                    tokio::select! {
                        () = tokio::time::sleep(deadline) => {}
                        name = signals.recv() => {
                            let _ = tx.send(name);
                            tokio::time::sleep(AFTER_SECOND_SIGNAL).await;
                        }
                    }
                });
                last_words();
                say_last_line();
                std::process::exit(1);
            })?;
        ready
            .recv()
            .map_err(|_| std::io::Error::other("the signal thread stopped"))??;
        Ok(Forwarded(rx))
    }
}

/// Logs why the process is ending, waiting at most [`LAST_LINE_WAIT`]: what stalled the
/// process may be its log itself (stderr, a pipe whose reader stopped draining it, blocks every
/// thread that logs, and the one holding the lock keeps it), and the exit must not wait on it.
fn say_last_line() {
    let (said, done) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("last-words".to_owned())
        .spawn(move || {
            tracing::error!("the shutdown deadline passed and the process still runs: exiting");
            let _ = said.send(());
        });
    if spawned.is_ok() {
        let _ = done.recv_timeout(LAST_LINE_WAIT);
    }
}

/// How long the signal thread waits for its last log line before it ends the process.
const LAST_LINE_WAIT: Duration = Duration::from_millis(200);

/// How long the process has to end after a second signal before the signal thread ends it.
const AFTER_SECOND_SIGNAL: Duration = Duration::from_secs(2);

/// Signal names forwarded from the signal thread.
#[derive(Debug)]
pub(crate) struct Forwarded(mpsc::UnboundedReceiver<&'static str>);

impl Forwarded {
    /// Waits for the next signal and names it.
    pub(crate) async fn recv(&mut self) -> &'static str {
        match self.0.recv().await {
            Some(name) => name,
            // The thread is gone only once it is ending the process.
            None => std::future::pending().await,
        }
    }
}
