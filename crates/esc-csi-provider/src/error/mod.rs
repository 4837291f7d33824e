//! Why a mount failed. Each message is written for the person reading the pod's events: what is
//! wrong, where, and what to change. None contains a token or a value.

pub mod classify;

use std::fmt::{self, Write as _};

use esc_api::{EnvironmentRef, EscError, Failure};

use crate::class::problems::{ClassProblems, Joined};
use crate::credential::{AuthError, CredentialError, TokenOrigin};
use crate::render::error::ItemProblem;

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// A request field the driver fills is malformed.
    #[error("{0}")]
    Request(String),
    /// The SecretProviderClass has problems; all of them are listed.
    #[error("invalid SecretProviderClass{}: {problems}", ClassName(class))]
    Class {
        class: Option<String>,
        problems: ClassProblems,
    },
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// ESC refused or failed.
    #[error("{error}{}", EscHint { error, origin })]
    Esc {
        error: EscError,
        origin: TokenOrigin,
    },
    /// Some items cannot be mounted from the environment's values.
    #[error(
        "cannot mount from ESC environment {environment}: {}",
        Joined(problems)
    )]
    Items {
        environment: EnvironmentRef,
        problems: Vec<ItemProblem>,
    },
    /// The files do not fit in one driver response (counted as they render: `bytes` is where
    /// counting stopped).
    #[error(
        "the mounted files make a response of at least {bytes} bytes, over the {limit}-byte \
         limit (--max-response-bytes); mount fewer or smaller items"
    )]
    TooLarge { bytes: usize, limit: usize },
    /// The request (`item`: the request, or the file being rendered) does not fit in the
    /// node-wide memory budget.
    #[error("cannot mount {item}: {error}")]
    Memory {
        item: String,
        error: esc_api::MemoryError,
    },
    /// The mount's time budget ran out.
    #[error("the mount did not finish within {0:?}")]
    Deadline(std::time::Duration),
}

impl From<CredentialError> for MountError {
    fn from(error: CredentialError) -> Self {
        match error {
            CredentialError::Auth(error) => MountError::Auth(error),
            CredentialError::Exchange { error, origin } => MountError::Esc { error, origin },
        }
    }
}

struct ClassName<'a>(&'a Option<String>);

impl fmt::Display for ClassName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(name) => write!(f, " {name:?}"),
            None => Ok(()),
        }
    }
}

/// Writes `sep` before the first text written through it.
struct Sentence<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
    sep: &'static str,
}

impl fmt::Write for Sentence<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.f.write_str(std::mem::take(&mut self.sep))?;
        self.f.write_str(s)
    }
}

/// What to do about an ESC error, by its [`Failure`] and step.
struct EscHint<'a> {
    error: &'a EscError,
    origin: &'a TokenOrigin,
}

impl fmt::Display for EscHint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // ESC's own message may already end a sentence ("… are invalid."): no doubled period.
        let sep = if self.error.to_string().ends_with(['.', '!', '?']) {
            " "
        } else {
            ". "
        };
        let f = &mut Sentence { f, sep };
        let exchange = self.error.step() == esc_api::Step::Exchange;
        match (self.error.failure(), exchange) {
            (Failure::Unauthenticated | Failure::Forbidden, true) => f.write_str(
                "Check that the Pulumi organization trusts the cluster's OIDC issuer \
                 (Settings, OIDC Issuers), that its policy allows this service account and \
                 token type, and that the token's audience is what the issuer expects",
            ),
            (Failure::NoTokenEndpoint, _) => {
                f.write_str("The API at apiUrl has no token exchange endpoint; check apiUrl")
            }
            (Failure::RateLimited | Failure::ServerError, true) => {
                f.write_str("The token exchange is failing; the mount will be retried")
            }
            (Failure::DoesNotEvaluate, _) => {
                f.write_str("The environment does not evaluate; fix its definition in ESC")
            }
            (Failure::Unauthenticated, false) => write!(
                f,
                "Check the token in {}: it may be wrong, expired or revoked",
                self.origin
            ),
            (Failure::Forbidden, false) => write!(
                f,
                "The token in {} may not open this environment; grant its owner access",
                self.origin
            ),
            (Failure::NotFound, _) => write!(
                f,
                "Check organization, project and environment (and the version after '@'), \
                 and that the token in {} can see the environment",
                self.origin
            ),
            (Failure::RateLimited, false) => {
                f.write_str("ESC is rate limiting requests; the mount will be retried")
            }
            (Failure::ServerError, false) => {
                f.write_str("ESC is failing; the mount will be retried")
            }
            // The error's own text says all there is to say.
            (
                Failure::NoAnswer
                | Failure::Deadline
                | Failure::NotTheApi
                | Failure::OtherStatus
                | Failure::TooLarge
                | Failure::MemoryBusy
                | Failure::BadApiUrl,
                _,
            ) => Ok(()),
        }
    }
}
