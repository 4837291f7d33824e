//! Parameter names, as the Go provider defined them, and the attributes the driver adds.

pub const API_URL: &str = "apiUrl";
pub const ORGANIZATION: &str = "organization";
pub const PROJECT: &str = "project";
pub const ENVIRONMENT: &str = "environment";
pub const AUTH_SECRET_NAME: &str = "authSecretName";
pub const AUTH_SECRET_NAMESPACE: &str = "authSecretNamespace";
pub const SECRETS: &str = "secrets";
/// Workload identity (ours): `oidc`, `secret`, or unset for automatic.
pub const AUTH_METHOD: &str = "authMethod";
pub const OIDC_AUDIENCE: &str = "oidcAudience";
pub const OIDC_TOKEN_TYPE: &str = "oidcTokenType";
pub const OIDC_SCOPE: &str = "oidcScope";
pub const OIDC_EXPIRATION: &str = "oidcExpiration";
/// Added by the driver.
pub const CLASS_NAME: &str = "secretProviderClass";
pub const POD_NAME: &str = "csi.storage.k8s.io/pod.name";
pub const POD_NAMESPACE: &str = "csi.storage.k8s.io/pod.namespace";
pub const POD_UID: &str = "csi.storage.k8s.io/pod.uid";
pub const SERVICE_ACCOUNT: &str = "csi.storage.k8s.io/serviceAccount.name";
/// `{"<audience>": {"token": "<jwt>", "expirationTimestamp": "..."}}`, when the CSIDriver
/// has `tokenRequests`. Never logged.
pub const SERVICE_ACCOUNT_TOKENS: &str = "csi.storage.k8s.io/serviceAccount.tokens";

pub const PARAMETERS: [&str; 12] = [
    API_URL,
    ORGANIZATION,
    PROJECT,
    ENVIRONMENT,
    AUTH_SECRET_NAME,
    AUTH_SECRET_NAMESPACE,
    SECRETS,
    AUTH_METHOD,
    OIDC_AUDIENCE,
    OIDC_TOKEN_TYPE,
    OIDC_SCOPE,
    OIDC_EXPIRATION,
];
