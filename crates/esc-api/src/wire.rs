//! JSON bodies of the calls esc-csi makes, per `esc-openapi.yaml`. Fields we do not use are
//! not declared, so they are skipped whatever they hold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Value;

/// `POST .../open` → the session to read from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenEnvironment {
    pub id: String,
}

/// `GET .../open/{id}` → the evaluated environment. Read by [`crate::reply::Reply`] in one
/// pass over the body, numbers as their text (see [`Value::decode_wire_field`]).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub properties: BTreeMap<String, Value>,
    /// The values the reader kept (traces and wrappers are not kept): what the reply's
    /// decoded tree weighs, per [`crate::reply::VALUE_COST`].
    pub values: usize,
}

/// The body of an error reply: `{"code", "message"}`, plus diagnostics on a failed open; the
/// OAuth token endpoint answers `{"error", "error_description"}` instead (RFC 6749 §5.2).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Diagnostic>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// `POST /api/oauth/token` → the exchanged token (RFC 8693 §2.2.1). Only `access_token` is
/// required; the rest is read when present.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenExchangeGrant {
    pub access_token: secrecy::SecretString,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub issued_token_type: Option<String>,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// One evaluation diagnostic.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Diagnostic {
    #[serde(default)]
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}
