//! What kind of failure a mount error is, decided here once: the one map from errors to
//! [`ErrorCode`]s. No stage imports it; the gRPC adapter and the metrics read its answer.

use esc_api::{Failure, MemoryError};
use esc_path::ResolveError;

use crate::code::ErrorCode;
use crate::credential::AuthError;
use crate::error::MountError;
use crate::render::{ItemProblemKind, RenderError};

impl MountError {
    /// What kind of failure this is.
    pub fn code(&self) -> ErrorCode {
        match self {
            MountError::Request(_) | MountError::Class { .. } => ErrorCode::InvalidArgument,
            MountError::Auth(auth) => match auth {
                AuthError::NoCredentials
                | AuthError::NoServiceAccountToken { .. }
                | AuthError::SecretNotFound { .. }
                | AuthError::KeyNotFound { .. }
                | AuthError::EmptyToken { .. }
                | AuthError::MalformedToken { .. } => ErrorCode::Unauthenticated,
                AuthError::CrossNamespace { .. } | AuthError::Forbidden { .. } => {
                    ErrorCode::PermissionDenied
                }
                AuthError::NoNamespace
                | AuthError::BadNodePublishSecrets
                | AuthError::BadServiceAccountTokens => ErrorCode::InvalidArgument,
                AuthError::Unavailable { .. } => ErrorCode::Unavailable,
                AuthError::NoKubernetes(_) => ErrorCode::FailedPrecondition,
                AuthError::Timeout { .. } => ErrorCode::DeadlineExceeded,
            },
            MountError::Esc { error, .. } => match error.failure() {
                Failure::NoAnswer
                | Failure::RateLimited
                | Failure::ServerError
                | Failure::NotTheApi
                | Failure::MemoryBusy => ErrorCode::Unavailable,
                Failure::Deadline => ErrorCode::DeadlineExceeded,
                Failure::Unauthenticated => ErrorCode::Unauthenticated,
                Failure::Forbidden => ErrorCode::PermissionDenied,
                Failure::NotFound => ErrorCode::NotFound,
                Failure::DoesNotEvaluate | Failure::NoTokenEndpoint | Failure::OtherStatus => {
                    ErrorCode::FailedPrecondition
                }
                Failure::TooLarge => ErrorCode::ResourceExhausted,
                Failure::BadApiUrl => ErrorCode::InvalidArgument,
            },
            // By severity, so the code does not depend on the order of the items.
            MountError::Items { problems, .. } => problems
                .iter()
                .map(|p| item_code(&p.kind))
                .max_by_key(|code| item_severity(*code))
                .unwrap_or(ErrorCode::Internal),
            MountError::TooLarge { .. } => ErrorCode::ResourceExhausted,
            MountError::Memory { error, .. } => match error {
                MemoryError::TooLarge { .. } => ErrorCode::ResourceExhausted,
                MemoryError::Busy { .. } => ErrorCode::Unavailable,
            },
            MountError::Deadline(_) => ErrorCode::DeadlineExceeded,
        }
    }
}

/// The code of one item that cannot be mounted.
fn item_code(kind: &ItemProblemKind) -> ErrorCode {
    match kind {
        ItemProblemKind::Resolve(ResolveError::Unknown { .. })
        | ItemProblemKind::Render(RenderError::Unknown) => ErrorCode::FailedPrecondition,
        ItemProblemKind::Resolve(_) => ErrorCode::NotFound,
        ItemProblemKind::Render(
            RenderError::NotAString { .. }
            | RenderError::Decode { .. }
            | RenderError::NotAnObject { .. }
            | RenderError::BadKey { .. }
            | RenderError::Variables { .. }
            | RenderError::NestedFile { .. }
            | RenderError::EmptyFolder,
        ) => ErrorCode::InvalidArgument,
        ItemProblemKind::Render(RenderError::TooLarge { .. }) => ErrorCode::ResourceExhausted,
        ItemProblemKind::Render(RenderError::Yaml(_)) => ErrorCode::Internal,
    }
}

/// Which item code a mount with several problems reports: our own failure first, then the
/// response's limit, then a path the environment lacks, then a value of the wrong shape for its
/// item, and last a value ESC has not resolved yet (the one that may pass on its own).
fn item_severity(code: ErrorCode) -> u8 {
    match code {
        ErrorCode::Internal => 4,
        ErrorCode::ResourceExhausted => 3,
        ErrorCode::NotFound => 2,
        ErrorCode::InvalidArgument => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_with_several_item_problems_has_the_same_code_whatever_their_order() {
        let problem = |kind| crate::error::ItemProblem {
            item: "secrets[0] (\"a\")".into(),
            path: esc_path::PropertyPath::default(),
            kind,
        };
        let missing = problem(ItemProblemKind::Resolve(ResolveError::Unknown {
            at: esc_path::PropertyPath::default(),
        }));
        let not_a_string = problem(ItemProblemKind::Render(RenderError::EmptyFolder));
        let too_large = problem(ItemProblemKind::Render(RenderError::TooLarge { limit: 1 }));
        let items = |problems: Vec<_>| MountError::Items {
            environment: esc_api::EnvironmentRef {
                organization: "acme".into(),
                project: "app".into(),
                environment: "prod".into(),
                version: None,
            },
            problems,
        };
        let all = [missing, not_a_string, too_large];
        for order in [[0, 1, 2], [2, 1, 0], [1, 0, 2], [1, 2, 0]] {
            let problems = order.iter().map(|&i| all[i].clone()).collect();
            assert_eq!(
                items(problems).code(),
                ErrorCode::ResourceExhausted,
                "{order:?}"
            );
        }
        let missing_key = problem(ItemProblemKind::Resolve(ResolveError::MissingKey {
            at: esc_path::PropertyPath::default(),
            key: "helo".into(),
            suggestion: None,
        }));
        for problems in [
            vec![missing_key.clone(), all[1].clone()],
            vec![all[1].clone(), missing_key],
        ] {
            assert_eq!(items(problems).code(), ErrorCode::NotFound);
        }
        let problems = vec![all[0].clone(), all[1].clone()];
        assert_eq!(items(problems).code(), ErrorCode::InvalidArgument);
        assert_eq!(
            items(vec![all[0].clone()]).code(),
            ErrorCode::FailedPrecondition
        );
    }
}
