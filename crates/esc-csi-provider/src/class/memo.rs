//! Item lists already parsed, so that a class's `secrets` is parsed once, not on every mount.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::class::item::Item;
use crate::class::limits::ClassLimits;
use crate::class::problems::ClassProblems;
use crate::render::template::Template;

/// Item lists parsed, by their text and the limits they were read under: every mount of a class
/// sends the same `secrets`, parsing its YAML was over a third of a cached mount's CPU time, and
/// a refused list (a hostile one) must not cost its parse again on every mount. Owned by whoever
/// reads classes over and over: the [`crate::Mounter`]. A hit costs a SipHash and a compare of
/// the text, and shares the parsed list (a SHA-256 of the text and a deep copy of the items
/// were a tenth of a warm mount's instructions). Not the shared [`crate::cache::Store`]: parsing
/// is synchronous and pure, so there is nothing in flight to coalesce and nothing to expire.
#[derive(Default)]
pub struct ItemsMemo(Mutex<Memo>);

impl fmt::Debug for ItemsMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let memo = self.0.lock().unwrap_or_else(|e| e.into_inner());
        write!(f, "ItemsMemo({} lists)", memo.len())
    }
}

pub(crate) type Parsed = Result<Arc<[Item]>, ClassProblems>;

/// By limits (one set per daemon in practice), then by text.
#[derive(Default)]
struct Memo {
    entries: HashMap<ClassLimits, HashMap<Box<str>, Parsed>>,
    bytes: usize,
}

impl Memo {
    fn len(&self) -> usize {
        self.entries.values().map(HashMap::len).sum()
    }
}

/// Distinct lists remembered, and their estimated bytes (texts included); past either the memo
/// starts over (classes on a node are few).
const PARSED_MAX: usize = 64;
const PARSED_MAX_BYTES: usize = 8 << 20;

fn estimate(text: &str, entry: &Parsed) -> usize {
    text.len()
        + match entry {
            Ok(items) => items
                .iter()
                .map(|i: &Item| -> usize {
                    128 + i.file_name.len()
                        + 2 * i.path.to_string().len()
                        + i.template.as_ref().map_or(0, Template::estimate)
                })
                .sum(),
            Err(problems) => problems
                .iter()
                .map(|p| 64 + p.subject.len() + p.message.len())
                .sum::<usize>(),
        }
}

impl ItemsMemo {
    /// The list parsed from `text` under `limits`, if remembered.
    pub(crate) fn get(&self, limits: &ClassLimits, text: &str) -> Option<Parsed> {
        let memo = self.0.lock().unwrap_or_else(|e| e.into_inner());
        memo.entries.get(limits)?.get(text).cloned()
    }

    /// Remembers `entry` for `text`, starting over when the memo is full.
    pub(crate) fn insert(&self, limits: &ClassLimits, text: &str, entry: Parsed) {
        let bytes = estimate(text, &entry);
        let mut memo = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if memo.len() >= PARSED_MAX || memo.bytes + bytes > PARSED_MAX_BYTES {
            memo.entries.clear();
            memo.bytes = 0;
        }
        if bytes <= PARSED_MAX_BYTES / 4 {
            memo.bytes += bytes;
            (memo.entries.entry(*limits).or_default()).insert(text.into(), entry);
        }
    }
}
