//! The kinds a mount fails with, named as the gRPC codes they become. A vocabulary with no
//! imports: the error map (in the error folder) decides a failure's kind, the gRPC adapter
//! turns it into a status and the metrics label mounts with its name, so neither the domain nor
//! its metrics depend on tonic.

/// A failed mount's kind, named as the gRPC code it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    FailedPrecondition,
    ResourceExhausted,
    Unavailable,
    DeadlineExceeded,
    Internal,
}

impl ErrorCode {
    /// Every code a mount can fail with, for metrics that start at zero.
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::InvalidArgument,
        ErrorCode::Unauthenticated,
        ErrorCode::PermissionDenied,
        ErrorCode::NotFound,
        ErrorCode::FailedPrecondition,
        ErrorCode::ResourceExhausted,
        ErrorCode::Unavailable,
        ErrorCode::DeadlineExceeded,
        ErrorCode::Internal,
    ];

    /// The gRPC code's name, as metrics label it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "InvalidArgument",
            ErrorCode::Unauthenticated => "Unauthenticated",
            ErrorCode::PermissionDenied => "PermissionDenied",
            ErrorCode::NotFound => "NotFound",
            ErrorCode::FailedPrecondition => "FailedPrecondition",
            ErrorCode::ResourceExhausted => "ResourceExhausted",
            ErrorCode::Unavailable => "Unavailable",
            ErrorCode::DeadlineExceeded => "DeadlineExceeded",
            ErrorCode::Internal => "Internal",
        }
    }
}
