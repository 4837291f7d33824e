//! Everything wrong with a SecretProviderClass, collected so the user can fix it all at once.

use std::fmt;

use crate::class::limits::MAX_PROBLEMS;

/// One problem: what it concerns (a parameter, an item) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassProblem {
    pub subject: String,
    pub message: String,
}

impl fmt::Display for ClassProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.message)
    }
}

/// All problems found, in the order they were found: the first [`MAX_PROBLEMS`] in full, the
/// rest only counted, so that a class with a million bad items makes a short message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassProblems(pub Vec<ClassProblem>, usize);

impl ClassProblems {
    pub fn push(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        if self.0.len() >= MAX_PROBLEMS {
            self.1 += 1;
            return;
        }
        self.0.push(ClassProblem {
            subject: subject.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every problem found, counted ones included.
    pub fn len(&self) -> usize {
        self.0.len() + self.1
    }

    /// Adds `other`'s problems after these, within the same cap.
    pub fn append(&mut self, other: &ClassProblems) {
        for problem in other.iter() {
            self.push(problem.subject.clone(), problem.message.clone());
        }
        self.1 += other.1;
    }

    /// Problems found past [`MAX_PROBLEMS`], counted but not kept.
    pub fn more(&self) -> usize {
        self.1
    }

    pub fn iter(&self) -> impl Iterator<Item = &ClassProblem> {
        self.0.iter()
    }
}

impl fmt::Display for ClassProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Joined(&self.0).fmt(f)?;
        if self.1 > 0 {
            write!(f, "; … and {} more", self.1)?;
        }
        Ok(())
    }
}

/// Items printed one after the other, separated by `; `: how every list of problems reads.
#[derive(Debug)]
pub(crate) struct Joined<'a, T>(pub &'a [T]);

impl<T: fmt::Display> fmt::Display for Joined<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_past_the_cap_are_counted_not_kept() {
        let mut problems = ClassProblems::default();
        for i in 0..MAX_PROBLEMS + 5000 {
            problems.push(format!("secrets[{i}]"), "x".repeat(4096));
        }
        assert_eq!(problems.len(), MAX_PROBLEMS + 5000);
        assert_eq!(problems.iter().count(), MAX_PROBLEMS);
        let text = problems.to_string();
        assert!(
            text.ends_with("; … and 5000 more"),
            "{}",
            &text[text.len() - 40..]
        );
        assert!(text.len() < (MAX_PROBLEMS + 1) * 4200);
    }
}
