//! What a mount's response may still take, and the mount's one reservation of node-wide
//! memory.

/// What a mount's response may still take, and the mount's one reservation of node-wide
/// memory. Rendered files count against `--max-response-bytes` as they are rendered, so that
/// rendering stops at the first file that does not fit instead of finishing every file of a
/// response that is then refused.
///
/// The reservation travels with the mount and holds, until the response is written (see
/// the gRPC adapter): the request (a multiple of its size), the ESC reply and its decoded tree
/// (added by the environment source), and each file's bytes twice (the file
/// and its copy in the encoded response).
#[derive(Debug)]
pub struct ResponseBudget {
    limit: usize,
    used: usize,
    memory: esc_api::Reservation,
}

impl ResponseBudget {
    pub fn new(limit: usize, memory: esc_api::Reservation) -> Self {
        ResponseBudget {
            limit,
            used: 0,
            memory,
        }
    }

    /// No limit and no memory accounting.
    pub fn unlimited() -> Self {
        ResponseBudget::new(usize::MAX, esc_api::MemoryBudget::new(0).empty())
    }

    /// The mount's reservation, to add what it holds as it holds it.
    pub fn memory(&mut self) -> &mut esc_api::Reservation {
        &mut self.memory
    }

    /// The mount's reservation, to keep until the response is written.
    pub fn into_memory(self) -> esc_api::Reservation {
        self.memory
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes counted so far.
    pub fn used(&self) -> usize {
        self.used
    }

    /// What the next file's contents may take.
    pub fn remaining(&self) -> usize {
        self.limit.saturating_sub(self.used)
    }

    /// Counts `bytes` more: `Err` with the total when they do not fit in the response, or
    /// when the node's memory budget cannot hold them by `deadline`.
    pub async fn charge(
        &mut self,
        bytes: usize,
        deadline: tokio::time::Instant,
    ) -> Result<(), Overflow> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.limit {
            return Err(Overflow::Response {
                bytes: self.used,
                limit: self.limit,
            });
        }
        self.memory
            .grow(bytes.saturating_mul(2), deadline)
            .await
            .map_err(Overflow::Memory)
    }
}

/// Why a response could not grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Response { bytes: usize, limit: usize },
    Memory(esc_api::MemoryError),
}
