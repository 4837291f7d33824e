//! Any reply an ESC API (or a class author's server at `apiUrl`) can send: status, headers and
//! body, judged as every call's reply is, and the retry wait computed from it. An error or a
//! value, never a panic or an overflowing time computation (a huge `Retry-After` once panicked).
//!
//! Input: two bytes of status, then header lines (`name: value`) up to an empty line, then the
//! body.
#![no_main]

use std::time::{Duration, SystemTime};

use esc_api::reply::{judge, next_wait};
use esc_api::wire::{OpenEnvironment, TokenExchangeGrant};
use esc_api::{EnvironmentRef, MAX_RETRY_AFTER, RetryPolicy, Step, Value};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use tokio::time::Instant;

fuzz_target!(|data: &[u8]| {
    let Some((status, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let status = StatusCode::from_u16(100 + u16::from_be_bytes(*status) % 900).unwrap();
    let split = rest
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(rest.len());
    let (head, body) = rest.split_at(split);
    let body = body.get(2..).unwrap_or_default();
    let mut headers = HeaderMap::new();
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(value[1..].trim_ascii()),
        ) {
            headers.append(name, value);
        }
    }
    let env = EnvironmentRef {
        organization: "acme".into(),
        project: "app".into(),
        environment: "dev".into(),
        version: None,
    };
    let now = Instant::now();
    let deadline = now + Duration::from_secs(30);
    let policy = RetryPolicy::default();
    for step in [Step::Exchange, Step::Open, Step::Read] {
        let errors = [
            judge::<Value>(
                step,
                &env,
                status,
                &headers,
                body,
                10_000,
                SystemTime::now(),
            )
            .err(),
            judge::<OpenEnvironment>(
                step,
                &env,
                status,
                &headers,
                body,
                10_000,
                SystemTime::now(),
            )
            .err(),
            judge::<TokenExchangeGrant>(step, &env, status, &headers, body, 0, SystemTime::now())
                .err(),
        ];
        for error in errors.into_iter().flatten() {
            drop(error.to_string());
            assert!(error.retry_after().is_none_or(|w| w <= MAX_RETRY_AFTER));
            for retry in [0, 3, u32::MAX] {
                if let Some(wait) = next_wait(&error, &policy, retry, now, deadline) {
                    assert!(now.checked_add(wait).is_some_and(|t| t < deadline));
                }
            }
        }
    }
});
