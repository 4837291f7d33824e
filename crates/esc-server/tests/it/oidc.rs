//! `POST /api/oauth/token` over real HTTP: what a good service-account token gets, and every
//! reason a bad one is refused, in the OAuth error shape.

use crate::support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use esc_server::{JwkSet, OidcConfig};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use support::Fixture;

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const AUDIENCE: &str = "urn:pulumi:org:acme";
const RSA_PEM: &[u8] = include_bytes!("../fixtures/rs256-test-only.pem");

/// A signing key and its public JWK.
struct Key {
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Jwk,
}

impl Key {
    fn es256(kid: &str) -> Key {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        Key::new(
            Algorithm::ES256,
            EncodingKey::from_ec_der(pkcs8.as_ref()),
            kid,
        )
    }

    fn rs256(kid: &str) -> Key {
        Key::new(
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(RSA_PEM).unwrap(),
            kid,
        )
    }

    fn new(alg: Algorithm, encoding: EncodingKey, kid: &str) -> Key {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        Key { alg, encoding, jwk }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = self.jwk.common.key_id.clone();
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The claims of a projected service-account token for `audience`.
fn claims(audience: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": [audience],
        "sub": "system:serviceaccount:shop:web",
        "iat": now(),
        "nbf": now(),
        "exp": now() + 600,
    })
}

async fn server(keys: &[&Key]) -> Fixture {
    let jwks = JwkSet {
        keys: keys.iter().map(|k| k.jwk.clone()).collect(),
    };
    Fixture::start_with(&[("app/prod.yaml", "values:\n  hello: world\n")], |c| {
        c.oidc = Some(OidcConfig::new(ISSUER, jwks));
    })
    .await
}

struct Exchanged {
    status: u16,
    body: Value,
}

async fn exchange_with(fixture: &Fixture, pairs: &[(&str, &str)]) -> Exchanged {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let reply = reqwest::Client::new()
        .post(format!("http://{}/api/oauth/token", fixture.running.addr()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    let body = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
    Exchanged { status, body }
}

async fn exchange(fixture: &Fixture, subject_token: &str) -> Exchanged {
    exchange_with(
        fixture,
        &[
            ("audience", AUDIENCE),
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            ),
            (
                "requested_token_type",
                "urn:pulumi:token-type:access_token:organization",
            ),
            ("subject_token", subject_token),
            ("expiration", "600"),
        ],
    )
    .await
}

/// Asserts an OAuth error; returns its description.
fn refused(reply: &Exchanged, error: &str) -> String {
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["error"], error, "{}", reply.body);
    reply.body["error_description"].as_str().unwrap().to_owned()
}

async fn open_with(fixture: &Fixture, token: &str) -> u16 {
    fixture
        .call("POST", "/environments/acme/app/prod/open", Some(token), "")
        .await
        .status
}

#[tokio::test]
async fn a_good_es256_token_is_exchanged_for_an_access_token_the_server_then_accepts() {
    let key = Key::es256("k1");
    let fixture = server(&[&key]).await;
    let reply = exchange(&fixture, &key.sign(&claims(AUDIENCE))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["issued_token_type"],
        "urn:pulumi:token-type:access_token:organization"
    );
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 600);
    let token = reply.body["access_token"].as_str().unwrap();
    assert_eq!(open_with(&fixture, token).await, 200);
    assert_eq!(open_with(&fixture, "pul-made-up").await, 401);
}

#[tokio::test]
async fn a_good_rs256_token_is_exchanged_too_and_the_key_is_chosen_by_kid() {
    let (ec, rsa) = (Key::es256("ec"), Key::rs256("rsa"));
    let fixture = server(&[&ec, &rsa]).await;
    let reply = exchange(&fixture, &rsa.sign(&claims(AUDIENCE))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_refused() {
    let (trusted, other) = (Key::es256("k1"), Key::es256("k1"));
    let fixture = server(&[&trusted]).await;
    let reply = exchange(&fixture, &other.sign(&claims(AUDIENCE))).await;
    assert_eq!(
        refused(&reply, "invalid_grant"),
        "the subject token's signature does not verify with any key in the JWKS"
    );
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let key = Key::es256("k1");
    let fixture = server(&[&key]).await;
    let mut claims = claims(AUDIENCE);
    claims["iss"] = json!("https://elsewhere.example");
    let reply = exchange(&fixture, &key.sign(&claims)).await;
    assert_eq!(
        refused(&reply, "invalid_grant"),
        format!("the subject token's issuer (iss) is not the trusted issuer {ISSUER}")
    );
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let key = Key::es256("k1");
    let fixture = server(&[&key]).await;
    let reply = exchange(
        &fixture,
        &key.sign(&claims("https://kubernetes.default.svc")),
    )
    .await;
    assert_eq!(
        refused(&reply, "invalid_grant"),
        "the subject token's audience (aud) does not include urn:pulumi:org:acme"
    );
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let key = Key::rs256("k1");
    let fixture = server(&[&key]).await;
    let mut claims = claims(AUDIENCE);
    claims["exp"] = json!(now() - 3600);
    let reply = exchange(&fixture, &key.sign(&claims)).await;
    assert_eq!(
        refused(&reply, "invalid_grant"),
        "the subject token has expired"
    );
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    let key = Key::es256("k1");
    let fixture = server(&[&key]).await;
    let mut claims = claims(AUDIENCE);
    claims["nbf"] = json!(now() + 3600);
    let reply = exchange(&fixture, &key.sign(&claims)).await;
    assert_eq!(
        refused(&reply, "invalid_grant"),
        "the subject token is not valid yet (nbf)"
    );
}

#[tokio::test]
async fn a_server_without_oidc_settings_says_how_to_enable_the_exchange() {
    let fixture = Fixture::start(&[("app/prod.yaml", "values: {}\n")]).await;
    let reply = exchange(&fixture, "a.b.c").await;
    assert_eq!(
        refused(&reply, "invalid_request"),
        "token exchange is not enabled on this server; start esc-server with --oidc-issuer and \
         --oidc-jwks"
    );
}

#[tokio::test]
async fn wrong_grant_types_scopes_and_garbage_tokens_get_oauth_errors() {
    let key = Key::es256("k1");
    let fixture = server(&[&key]).await;
    let good = key.sign(&claims(AUDIENCE));
    let base = [
        ("audience", AUDIENCE),
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        ),
        (
            "requested_token_type",
            "urn:pulumi:token-type:access_token:team",
        ),
        ("subject_token", good.as_str()),
    ];
    let reply = exchange_with(&fixture, &base).await;
    assert_eq!(
        refused(&reply, "invalid_scope"),
        "a team token needs scope team:<team name>"
    );
    let mut with_scope = base.to_vec();
    with_scope.push(("scope", "team:platform"));
    assert_eq!(exchange_with(&fixture, &with_scope).await.status, 200);
    let mut wrong_grant = base.to_vec();
    wrong_grant[1] = ("grant_type", "client_credentials");
    refused(
        &exchange_with(&fixture, &wrong_grant).await,
        "unsupported_grant_type",
    );
    let garbage = exchange(&fixture, "not-a-jwt").await;
    assert!(refused(&garbage, "invalid_grant").contains("not a signed JWT"));
}

#[tokio::test]
async fn our_own_client_exchanges_and_opens_with_the_issued_token() {
    let key = Key::es256("k1");
    let fixture = server(&[&key]).await;
    let client = esc_api::EscClient::new(esc_api::ClientOptions::default()).unwrap();
    let api = url::Url::parse(&fixture.running.url()).unwrap();
    let env = esc_api::EnvironmentRef {
        organization: "acme".into(),
        project: "app".into(),
        environment: "prod".into(),
        version: None,
    };
    let request = esc_api::TokenExchange {
        audience: esc_api::oauth::audience_of("acme"),
        token_type: esc_api::TokenType::Organization,
        scope: None,
        expiration: Some(Duration::from_secs(900)),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let subject = SecretString::from(key.sign(&claims(AUDIENCE)));
    let token = client
        .exchange_token(&api, &env, &request, &subject, deadline)
        .await
        .unwrap();
    assert_eq!(token.expires_in, Some(Duration::from_secs(900)));
    let value = client
        .open_and_read(&api, &env, &token.token, deadline)
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&value).unwrap()["hello"], "world");

    let stranger = SecretString::from(Key::es256("k1").sign(&claims(AUDIENCE)));
    let error = client
        .exchange_token(&api, &env, &request, &stranger, deadline)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "exchanging the pod's service-account token to open ESC environment acme/app/prod: \
         HTTP 400 Bad Request: invalid_grant: the subject token's signature does not verify \
         with any key in the JWKS"
    );
    assert!(!format!("{error:?}").contains(subject.expose_secret()));
}

/// The form of an exchange for `kind` (`organization`, `team`, `personal`) with `scope`.
fn pairs<'a>(kind: &'a str, scope: &'a str, subject_token: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("audience", AUDIENCE),
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        ),
        ("requested_token_type", kind),
        ("scope", scope),
        ("subject_token", subject_token),
    ]
}

#[tokio::test]
async fn a_token_exchanged_for_one_organization_opens_no_other_organization() {
    let key = Key::es256("k1");
    let fixture = server(&[&key]).await;
    let subject = key.sign(&claims(AUDIENCE));
    for (kind, scope) in [
        ("urn:pulumi:token-type:access_token:organization", ""),
        ("urn:pulumi:token-type:access_token:team", "team:platform"),
        ("urn:pulumi:token-type:access_token:personal", "user:alice"),
    ] {
        let reply = exchange_with(&fixture, &pairs(kind, scope, &subject)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let token = reply.body["access_token"].as_str().unwrap();
        assert_eq!(open_with(&fixture, token).await, 200, "{kind}");
        for path in [
            "/environments/other",
            "/environments/other/app/prod",
            "/environments/other/yaml/check",
        ] {
            let method = if path.ends_with("check") {
                "POST"
            } else {
                "GET"
            };
            let reply = fixture.call(method, path, Some(token), "").await;
            assert_eq!(
                reply.api_error(403),
                "this token was exchanged for organization acme; it opens only that \
                 organization's environments",
                "{kind} {path}"
            );
        }
        let reply = fixture
            .call("POST", "/environments/other/app/prod/open", Some(token), "")
            .await;
        assert_eq!(reply.status, 403, "{kind}");
    }
}

#[tokio::test]
async fn a_personal_token_acts_as_its_user_and_an_organization_token_as_the_configured_one() {
    let key = Key::es256("k1");
    let fixture = server(&[&key]).await;
    fixture.write(
        "app/who.yaml",
        "values:\n  who: ${context.pulumi.user.login}\n",
    );
    let subject = key.sign(&claims(AUDIENCE));
    for (kind, scope, user) in [
        (
            "urn:pulumi:token-type:access_token:personal",
            "user:alice",
            "alice",
        ),
        (
            "urn:pulumi:token-type:access_token:organization",
            "",
            "local",
        ),
    ] {
        let reply = exchange_with(&fixture, &pairs(kind, scope, &subject)).await;
        let token = reply.body["access_token"].as_str().unwrap();
        let opened = fixture
            .call("POST", "/environments/acme/app/who/open", Some(token), "")
            .await;
        let id = opened.json()["id"].as_str().unwrap().to_owned();
        let read = fixture
            .call(
                "GET",
                &format!("/environments/acme/app/who/open/{id}?property=who"),
                Some(token),
                "",
            )
            .await;
        assert_eq!(read.json()["value"], user, "{kind}");
    }
}

#[tokio::test]
async fn a_ps256_token_is_refused_by_a_key_published_for_rs256() {
    let rsa = Key::rs256("rsa");
    assert_eq!(
        rsa.jwk.common.key_algorithm,
        Some(jsonwebtoken::jwk::KeyAlgorithm::RS256)
    );
    let fixture = server(&[&rsa]).await;
    let mut header = Header::new(Algorithm::PS256);
    header.kid = Some("rsa".to_owned());
    let token = jsonwebtoken::encode(&header, &claims(AUDIENCE), &rsa.encoding).unwrap();
    let reply = exchange(&fixture, &token).await;
    assert_eq!(
        refused(&reply, "invalid_grant"),
        "the subject token is signed with PS256, which its key in the JWKS is not for (a key \
         verifies only its own alg, or its key type's algorithms when it has none)"
    );
    // Without `alg`, an RSA key admits the RSA family: PS256 passes.
    let mut open = rsa.jwk.clone();
    open.common.key_algorithm = None;
    let fixture = Fixture::start_with(&[("app/prod.yaml", "values: {a: 1}\n")], |c| {
        c.oidc = Some(OidcConfig::new(ISSUER, JwkSet { keys: vec![open] }));
    })
    .await;
    assert_eq!(exchange(&fixture, &token).await.status, 200);
}

#[test]
fn a_key_whose_alg_does_not_fit_its_type_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut jwk = Key::rs256("rsa").jwk;
    jwk.common.key_algorithm = Some(jsonwebtoken::jwk::KeyAlgorithm::ES256);
    let mut config = esc_server::Config::new(dir.path());
    config.oidc = Some(OidcConfig::new(ISSUER, JwkSet { keys: vec![jwk] }));
    let err = esc_server::EscServer::new(config).unwrap_err();
    assert_eq!(
        err.to_string(),
        "key 0 of the JWKS names no signature algorithm its key type can verify (alg must be \
         RS*, PS*, ES256, ES384 or EdDSA, matching the key)"
    );
}
