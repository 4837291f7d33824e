//! "Did you mean" hints for misspelt keys.

/// The candidate closest to `target`: an exact match ignoring case, or else the one with the
/// smallest edit distance, if that distance is small for the length of `target`.
pub fn closest<'a>(target: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = match target.chars().count() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == target {
            continue;
        }
        let distance = if candidate.eq_ignore_ascii_case(target) {
            0
        } else {
            edit_distance(target, candidate)
        };
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
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

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("é", "e"), 1);
    }
}
