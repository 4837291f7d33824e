//! "Did you mean" hints for misspelt keys, and the clipped form in which errors quote keys.
//!
//! Both work on text from outside (a class's `secretKey`, a `?property=`, an ESC reply's keys),
//! so both are bounded: an edit distance costs the product of the two lengths, and a 20k-char
//! key against a 1 MB key once took seconds of CPU on an async worker. Hints are only looked
//! for between short strings, over a bounded number of candidates; errors quote at most a
//! short prefix of a key, whatever its length.
use std::fmt;

/// Strings longer than this (in characters) get no hint and are never compared: typos worth
/// a hint are in names a person types.
pub const MAX_SUGGEST_CHARS: usize = 64;

/// Candidates compared by edit distance at most, per hint (the rest are not looked at). With
/// both strings under [`MAX_SUGGEST_CHARS`], one hint costs at most about 4M character steps.
pub const MAX_SUGGEST_CANDIDATES: usize = 1024;

/// Characters of a key an error message quotes at most.
pub const MAX_QUOTED_CHARS: usize = 64;

/// The candidate closest to `target`: an exact match ignoring case, or else the one with the
/// smallest edit distance, if that distance is small for the length of `target`. `None` when
/// `target` is long (see [`MAX_SUGGEST_CHARS`]); long candidates are skipped, and at most
/// [`MAX_SUGGEST_CANDIDATES`] candidates are compared.
pub fn closest<'a>(target: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let target_len = short_len(target)?;
    let limit = match target_len {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &'a str)> = None;
    let mut compared = 0;
    for candidate in candidates {
        if compared == MAX_SUGGEST_CANDIDATES {
            break;
        }
        if candidate == target {
            continue;
        }
        let Some(len) = short_len(candidate) else {
            continue;
        };
        // The distance is at least the difference of the lengths: no need to compute it.
        if len.abs_diff(target_len) > limit {
            continue;
        }
        compared += 1;
        let distance = if candidate.eq_ignore_ascii_case(target) {
            Some(0)
        } else {
            let (t, c): (Vec<char>, Vec<char>) =
                (target.chars().collect(), candidate.chars().collect());
            edit_distance_within(&t, &c, limit)
        };
        if let Some(distance) = distance
            && best.is_none_or(|(d, _)| distance < d)
        {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// The length of `s` in characters when it is at most [`MAX_SUGGEST_CHARS`], without counting
/// past that.
fn short_len(s: &str) -> Option<usize> {
    // A byte length within the bound is a char count within it; four bytes a char at most.
    if s.len() > MAX_SUGGEST_CHARS * 4 {
        return None;
    }
    let n = s.chars().count();
    (n <= MAX_SUGGEST_CHARS).then_some(n)
}

/// The Levenshtein distance between `a` and `b` if it is at most `max`, else `None`.
///
/// The one edit distance of the workspace (esc-path's hints, esc-eval's "did you mean"). Only
/// the band of cells within `max` of the diagonal is computed and the work stops at the first
/// row with no cell within `max`, so it costs at most [`edit_distance_cells`] cells however
/// long the two are: a 20k-character name against a 1 MB key costs nothing, their lengths
/// being too far apart. Callers bound `max` (and so the cost) before calling.
pub fn edit_distance_within<T: PartialEq>(a: &[T], b: &[T], max: usize) -> Option<usize> {
    let (a, b) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if b.len() - a.len() > max {
        return None;
    }
    // Cells outside the band hold FAR, so that FAR + 1 cannot win or overflow.
    const FAR: usize = usize::MAX / 2;
    let mut previous: Vec<usize> = (0..=b.len())
        .map(|j| if j <= max { j } else { FAR })
        .collect();
    let mut current = vec![FAR; b.len() + 1];
    for i in 1..=a.len() {
        let low = i.saturating_sub(max).max(1);
        let high = (i + max).min(b.len());
        current[low - 1] = if low == 1 && i <= max { i } else { FAR };
        let mut best = current[low - 1];
        for j in low..=high {
            let substitution = previous[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let cell = substitution.min(previous[j] + 1).min(current[j - 1] + 1);
            current[j] = cell;
            best = best.min(cell);
        }
        if high < b.len() {
            current[high + 1] = FAR;
        }
        if best > max {
            return None;
        }
        std::mem::swap(&mut previous, &mut current);
    }
    Some(previous[b.len()]).filter(|&d| d <= max)
}

/// The most cells [`edit_distance_within`] computes for strings of these lengths: none when
/// the lengths differ by more than `max`, else the shorter length times the band's width. A
/// caller charges it to its budget before the work.
pub fn edit_distance_cells(a_len: usize, b_len: usize, max: usize) -> u64 {
    if a_len.abs_diff(b_len) > max {
        return 0;
    }
    (a_len.min(b_len) as u64).saturating_mul(2 * max as u64 + 1)
}

/// A key as an error message quotes it: Rust-quoted like `{:?}`, cut after
/// [`MAX_QUOTED_CHARS`] characters with the full length said, so that a message never repeats
/// a long input whole. `Debug` prints the same, so `{name:?}` in a format string can take a
/// `name = Quoted(name)` argument.
#[derive(Clone, Copy)]
pub struct Quoted<'a>(pub &'a str);

impl fmt::Debug for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(MAX_QUOTED_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((end, _)) => {
                let head = format!("{:?}", &self.0[..end]);
                // The prefix's closing quote goes after the ellipsis.
                let open = &head[..head.len() - 1];
                write!(f, "{open}…\" ({} bytes)", self.0.len())
            }
        }
    }
}

/// Text (a path, a message) cut after `max` characters, marked with "…" when cut.
#[derive(Debug, Clone, Copy)]
pub struct Clipped<'a>(pub &'a str, pub usize);

impl fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(self.1) {
            None => f.write_str(self.0),
            Some((end, _)) => write!(f, "{}… ({} bytes)", &self.0[..end], self.0.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_near_miss_is_suggested() {
        assert_eq!(closest("pasword", ["password", "user"]), Some("password"));
        assert_eq!(
            closest("filename", ["fileName", "format"]),
            Some("fileName")
        );
    }

    #[test]
    fn nothing_is_suggested_when_every_candidate_is_far_away() {
        assert_eq!(closest("database", ["hello", "world"]), None);
        assert_eq!(closest("x", []), None);
    }

    #[test]
    fn the_closest_of_several_candidates_wins() {
        assert_eq!(closest("hosts", ["host", "hostname"]), Some("host"));
    }

    fn distance(a: &str, b: &str, max: usize) -> Option<usize> {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        edit_distance_within(&a, &b, max)
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(distance("kitten", "sitting", 10), Some(3));
        assert_eq!(distance("sitting", "kitten", 3), Some(3));
        assert_eq!(distance("", "abc", 3), Some(3));
        assert_eq!(distance("é", "e", 1), Some(1));
        assert_eq!(distance("same", "same", 0), Some(0));
        assert_eq!(distance("flaw", "lawn", 2), Some(2));
    }

    #[test]
    fn a_distance_over_the_bound_is_none() {
        assert_eq!(distance("kitten", "sitting", 2), None);
        assert_eq!(distance("", "abc", 2), None);
        assert_eq!(distance("abcdef", "badcfe", 2), None);
    }

    #[test]
    fn the_banded_distance_is_the_full_distance_whenever_within_the_bound() {
        // Every pair of short strings over a small alphabet, against the textbook table.
        let words: Vec<String> = (0..3u32.pow(5))
            .flat_map(|n| {
                (0..=5).map(move |len| {
                    (0..len)
                        .map(|k| char::from(b'a' + ((n / 3u32.pow(k)) % 3) as u8))
                        .collect()
                })
            })
            .collect();
        let full = |a: &[u8], b: &[u8]| {
            let mut row: Vec<usize> = (0..=b.len()).collect();
            for i in 1..=a.len() {
                let mut prev = row[0];
                row[0] = i;
                for j in 1..=b.len() {
                    let cell = (prev + usize::from(a[i - 1] != b[j - 1]))
                        .min(row[j - 1] + 1)
                        .min(row[j] + 1);
                    prev = row[j];
                    row[j] = cell;
                }
            }
            row[b.len()]
        };
        for a in words.iter().step_by(7) {
            for b in words.iter().step_by(5) {
                let d = full(a.as_bytes(), b.as_bytes());
                for max in 0..=4 {
                    let want = (d <= max).then_some(d);
                    assert_eq!(
                        edit_distance_within(a.as_bytes(), b.as_bytes(), max),
                        want,
                        "{a} {b} {max}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_work_is_bounded_by_the_band_whatever_the_lengths() {
        // A 20k-character name against a 1 MB key: lengths too far apart, no cell at all.
        assert_eq!(edit_distance_cells(20_000, 1 << 20, 32), 0);
        let (name, key) = ("k".repeat(20_000), "k".repeat(1 << 20));
        assert_eq!(distance(&name, &key, 32), None);
        // Two 20k strings two edits apart: 20k rows of a band 7 wide, not 20k x 20k.
        let other = format!("x{}y", &name[1..name.len() - 1]);
        assert_eq!(edit_distance_cells(name.len(), other.len(), 3), 140_000);
        assert_eq!(distance(&name, &other, 3), Some(2));
    }

    #[test]
    fn a_long_target_gets_no_suggestion_even_from_a_near_candidate() {
        let long = "k".repeat(MAX_SUGGEST_CHARS + 1);
        let near = "k".repeat(MAX_SUGGEST_CHARS);
        assert_eq!(closest(&long, [near.as_str()]), None);
        // At the bound, hints still work.
        let at = "k".repeat(MAX_SUGGEST_CHARS);
        let near = format!("{}j", "k".repeat(MAX_SUGGEST_CHARS - 1));
        assert_eq!(closest(&at, [near.as_str()]), Some(near.as_str()));
    }

    #[test]
    fn a_long_target_looks_at_no_candidate() {
        let long = "k".repeat(20_000);
        let mut pulled = 0;
        let candidates = std::iter::repeat_n("k", 1000).inspect(|_| pulled += 1);
        assert_eq!(closest(&long, candidates), None);
        assert_eq!(pulled, 0);
    }

    #[test]
    fn long_candidates_are_skipped_and_short_ones_still_found() {
        let huge = "a".repeat(1 << 20);
        assert_eq!(
            closest("passwrd", [huge.as_str(), "password"]),
            Some("password")
        );
    }

    #[test]
    fn only_a_bounded_number_of_candidates_are_compared() {
        // Candidates of the right length but far away fill the allowance: a match after
        // them is not looked at.
        let far: Vec<String> = (0..MAX_SUGGEST_CANDIDATES)
            .map(|i| format!("zz{i:06}"))
            .collect();
        let mut candidates: Vec<&str> = far.iter().map(String::as_str).collect();
        candidates.push("passwor");
        assert_eq!(closest("password", candidates.iter().copied()), None);
        // Candidates whose length rules them out cost nothing and do not count.
        let short: Vec<String> = (0..10 * MAX_SUGGEST_CANDIDATES)
            .map(|i| i.to_string())
            .collect();
        let mut candidates: Vec<&str> = short.iter().map(String::as_str).collect();
        candidates.push("passwor");
        assert_eq!(closest("password", candidates), Some("passwor"));
    }

    #[test]
    fn quoted_keys_are_cut_after_a_bounded_prefix() {
        assert_eq!(Quoted("db").to_string(), "\"db\"");
        let long = "x".repeat(20_000);
        let quoted = Quoted(&long).to_string();
        assert!(quoted.len() < MAX_QUOTED_CHARS + 32, "{quoted}");
        assert!(quoted.starts_with(&format!("\"{}", "x".repeat(MAX_QUOTED_CHARS))));
        assert!(quoted.ends_with("…\" (20000 bytes)"), "{quoted}");
        // Cut on a character boundary.
        let wide = "é".repeat(100);
        assert!(
            Quoted(&wide)
                .to_string()
                .contains(&"é".repeat(MAX_QUOTED_CHARS))
        );
    }

    #[test]
    fn clipped_text_is_cut_after_its_bound() {
        assert_eq!(Clipped("a.b", 10).to_string(), "a.b");
        assert_eq!(Clipped("abcdef", 3).to_string(), "abc… (6 bytes)");
    }
}
