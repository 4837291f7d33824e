//! The `attributes` the driver sends with a Mount: the class's parameters overlaid with the
//! pod's identity. Built here exactly as the driver builds them, so a local mount exercises
//! the same provider code path as one in a cluster.

use std::collections::BTreeMap;

use crate::manifest::SecretProviderClass;

/// The keys the driver adds to the class's parameters: the driver's protocol, written here on
/// the driver's side so that this crate needs nothing of the provider (`esc-csi` checks they
/// are the provider's keys).
pub mod keys {
    pub const CLASS_NAME: &str = "secretProviderClass";
    pub const POD_NAME: &str = "csi.storage.k8s.io/pod.name";
    pub const POD_NAMESPACE: &str = "csi.storage.k8s.io/pod.namespace";
    pub const POD_UID: &str = "csi.storage.k8s.io/pod.uid";
    pub const SERVICE_ACCOUNT: &str = "csi.storage.k8s.io/serviceAccount.name";
}

/// The driver's key for whether the volume is an ephemeral inline volume.
pub const EPHEMERAL: &str = "csi.storage.k8s.io/ephemeral";

/// The pod a local mount pretends to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub service_account: String,
    /// `None`: derived from namespace and name, so it is the same on every run.
    pub uid: Option<String>,
}

impl Pod {
    /// The pod's uid: the given one, or a stable UUID-shaped digest of namespace and name.
    pub fn uid(&self) -> String {
        if let Some(uid) = &self.uid {
            return uid.clone();
        }
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            format!("{}/{}", self.namespace, self.name).as_bytes(),
        );
        let h = hex::encode(&digest.as_ref()[..16]);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

/// The attributes of a Mount for `class` in `pod`.
pub fn attributes(class: &SecretProviderClass, pod: &Pod) -> BTreeMap<String, String> {
    let mut attributes = class.parameters.clone();
    attributes.insert(keys::CLASS_NAME.to_owned(), class.name.clone());
    attributes.insert(keys::POD_NAME.to_owned(), pod.name.clone());
    attributes.insert(keys::POD_NAMESPACE.to_owned(), pod.namespace.clone());
    attributes.insert(keys::POD_UID.to_owned(), pod.uid());
    attributes.insert(
        keys::SERVICE_ACCOUNT.to_owned(),
        pod.service_account.clone(),
    );
    attributes.insert(EPHEMERAL.to_owned(), "true".to_owned());
    attributes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        Pod {
            namespace: "web".into(),
            name: "app-0".into(),
            service_account: "app".into(),
            uid: None,
        }
    }

    #[test]
    fn the_pod_identity_overlays_the_parameters() {
        let class = SecretProviderClass {
            name: "app".into(),
            namespace: None,
            provider: "pulumi".into(),
            parameters: BTreeMap::from([
                ("organization".to_owned(), "acme".to_owned()),
                (keys::POD_NAME.to_owned(), "spoofed".to_owned()),
            ]),
        };
        let attributes = attributes(&class, &pod());
        assert_eq!(attributes["organization"], "acme");
        assert_eq!(attributes[keys::POD_NAME], "app-0");
        assert_eq!(attributes[keys::POD_NAMESPACE], "web");
        assert_eq!(attributes[keys::SERVICE_ACCOUNT], "app");
        assert_eq!(attributes[keys::CLASS_NAME], "app");
        assert_eq!(attributes[EPHEMERAL], "true");
    }

    #[test]
    fn a_derived_uid_is_stable_and_shaped_like_a_uuid() {
        let uid = pod().uid();
        assert_eq!(uid, pod().uid());
        assert_eq!(uid.len(), 36);
        assert_eq!(uid.matches('-').count(), 4);
        let other = Pod {
            name: "app-1".into(),
            ..pod()
        };
        assert_ne!(uid, other.uid());
        let given = Pod {
            uid: Some("u-1".into()),
            ..pod()
        };
        assert_eq!(given.uid(), "u-1");
    }
}
