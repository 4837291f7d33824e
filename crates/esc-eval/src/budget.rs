//! What one evaluation may spend, checked before the work: nesting depth, steps, and bytes.
//!
//! Definitions come from whoever can call `yaml/check` or write an environment, and the
//! language amplifies: `${x}${x}` doubles a string per level (a 682-byte body reached 1 GiB
//! in 34 levels), a value referenced twice per level is exported 2^n times, an import
//! diamond copies its imports along every path, and a long chain of references or nested
//! values recurses once per link. Each of these is bounded here and stops the evaluation
//! with a diagnostic that names the budget, instead of exhausting memory, time or the stack.
//!
//! The budget lives in a thread-local for the length of one evaluation ([`Scope`]) because
//! the value graph's helpers (export, copy, schemas, marks) recurse without the evaluator at
//! hand; an evaluation runs on one thread (its values are `Rc`). Outside a scope nothing is
//! counted but the defaults still bound the YAML reader.

use std::cell::RefCell;

/// The budgets of one evaluation. The defaults leave ample room for real environments (the
/// largest conformance definition uses a small fraction of each) and keep a hostile one
/// within about a hundred MiB, a few seconds and a 2 MiB thread stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of YAML collections, values and references, counted together.
    pub max_depth: usize,
    /// Imports nested in imports.
    pub max_import_depth: usize,
    /// `imports` entries processed in one evaluation, over all environments.
    pub max_imports: usize,
    /// Units of work: expressions evaluated, values exported, copied, merged or inspected.
    pub max_steps: u64,
    /// The longest string one value may hold, in bytes.
    pub max_value_bytes: usize,
    /// Text produced by the whole evaluation (interpolations, builtins, exported strings,
    /// imported definitions) and the values it exports or splits into, by their size in
    /// memory, in bytes: the interpolation-growth budget.
    pub max_total_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: 128,
            max_import_depth: 16,
            max_imports: 256,
            max_steps: 1_000_000,
            max_value_bytes: 1 << 20,
            max_total_bytes: 32 << 20,
        }
    }
}

/// The first budget an evaluation ran out of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exceeded {
    Depth(usize),
    Steps(u64),
    ValueBytes {
        size: usize,
        max: usize,
    },
    /// A text stopped as it was made, once past the value-size budget (its full size unknown).
    ValueBytesOver(usize),
    TotalBytes(usize),
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exceeded::Depth(max) => write!(
                f,
                "evaluation stopped: values, references and collections nest deeper than {max} \
                 levels (the depth budget)"
            ),
            Exceeded::Steps(max) => write!(
                f,
                "evaluation stopped: it took more than {max} steps (the evaluation-steps \
                 budget); a value used many times over, or imports reached along many paths, \
                 multiply the work"
            ),
            Exceeded::ValueBytes { size, max } => write!(
                f,
                "evaluation stopped: a value would be {size} bytes, over the {max}-byte \
                 value-size budget"
            ),
            Exceeded::ValueBytesOver(max) => write!(
                f,
                "evaluation stopped: a value would be more than {max} bytes, over the {max}-byte \
                 value-size budget"
            ),
            Exceeded::TotalBytes(max) => write!(
                f,
                "evaluation stopped: it produced more than {max} bytes of text (the \
                 interpolation-growth budget)"
            ),
        }
    }
}

#[derive(Debug)]
struct State {
    limits: Limits,
    steps: u64,
    depth: usize,
    bytes: usize,
    exceeded: Option<Exceeded>,
    reported: bool,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// The budget of one evaluation on this thread; the previous one (if any) comes back on drop.
#[derive(Debug)]
pub(crate) struct Scope {
    previous: Option<State>,
}

impl Scope {
    pub(crate) fn enter(limits: Limits) -> Scope {
        let state = State {
            limits,
            steps: 0,
            depth: 0,
            bytes: 0,
            exceeded: None,
            reported: false,
        };
        Scope {
            previous: STATE.with(|s| s.borrow_mut().replace(state)),
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        STATE.with(|s| *s.borrow_mut() = previous);
    }
}

fn with<T>(default: T, f: impl FnOnce(&mut State) -> T) -> T {
    STATE.with(|s| s.borrow_mut().as_mut().map_or(default, f))
}

fn exceed(state: &mut State, what: Exceeded) -> bool {
    state.exceeded.get_or_insert(what);
    false
}

/// The limits in force (the defaults outside an evaluation).
pub(crate) fn limits() -> Limits {
    with(Limits::default(), |s| s.limits)
}

/// Counts one step; `false` once any budget is exhausted, so callers stop at once.
pub(crate) fn step() -> bool {
    with(true, |s| {
        if s.exceeded.is_some() {
            return false;
        }
        s.steps += 1;
        if s.steps > s.limits.max_steps {
            let max = s.limits.max_steps;
            return exceed(s, Exceeded::Steps(max));
        }
        true
    })
}

/// One level deeper, until the guard drops; `None` when too deep or out of budget.
pub(crate) fn descend() -> Option<Depth> {
    let ok = with(true, |s| {
        if s.exceeded.is_some() {
            return false;
        }
        if s.depth >= s.limits.max_depth {
            let max = s.limits.max_depth;
            return exceed(s, Exceeded::Depth(max));
        }
        s.depth += 1;
        true
    });
    ok.then_some(Depth(()))
}

/// Records that a value would nest deeper than the depth budget.
pub(crate) fn exceed_depth() {
    with((), |s| {
        let max = s.limits.max_depth;
        exceed(s, Exceeded::Depth(max));
    });
}

/// A level of [`descend`]; dropping it goes back up.
#[derive(Debug)]
pub(crate) struct Depth(());

impl Drop for Depth {
    fn drop(&mut self) {
        with((), |s| s.depth = s.depth.saturating_sub(1));
    }
}

/// Counts `size` bytes about to be produced as one value; `false` (nothing should be
/// allocated) when the value or the evaluation's total would go over budget.
pub(crate) fn bytes(size: usize) -> bool {
    with(true, |s| {
        if s.exceeded.is_some() {
            return false;
        }
        if size > s.limits.max_value_bytes {
            let max = s.limits.max_value_bytes;
            return exceed(s, Exceeded::ValueBytes { size, max });
        }
        s.bytes = s.bytes.saturating_add(size);
        if s.bytes > s.limits.max_total_bytes {
            let max = s.limits.max_total_bytes;
            return exceed(s, Exceeded::TotalBytes(max));
        }
        true
    })
}

/// Records that a text being made ran past the value-size budget (see
/// [`Limits::max_value_bytes`]); its maker stopped writing there.
pub(crate) fn value_too_large() {
    with((), |s| {
        let max = s.limits.max_value_bytes;
        exceed(s, Exceeded::ValueBytesOver(max));
    });
}

/// Counts `n` steps at once (work about to be done in a loop); `false` when over budget.
pub(crate) fn steps(n: u64) -> bool {
    with(true, |s| {
        if s.exceeded.is_some() {
            return false;
        }
        s.steps = s.steps.saturating_add(n);
        if s.steps > s.limits.max_steps {
            let max = s.limits.max_steps;
            return exceed(s, Exceeded::Steps(max));
        }
        true
    })
}

/// Counts `size` bytes toward the evaluation's total only (an imported definition).
pub(crate) fn total(size: usize) -> bool {
    with(true, |s| {
        if s.exceeded.is_some() {
            return false;
        }
        s.bytes = s.bytes.saturating_add(size);
        if s.bytes > s.limits.max_total_bytes {
            let max = s.limits.max_total_bytes;
            return exceed(s, Exceeded::TotalBytes(max));
        }
        true
    })
}

/// Whether a budget ran out.
pub(crate) fn is_exceeded() -> bool {
    with(false, |s| s.exceeded.is_some())
}

/// The exhausted budget's message, the first time it is asked for (one diagnostic is enough).
pub(crate) fn report() -> Option<String> {
    with(None, |s| {
        if s.reported {
            return None;
        }
        let message = s.exceeded.as_ref()?.to_string();
        s.reported = true;
        Some(message)
    })
}
