//! The Secret holding the super user's credentials, with which the operator runs the
//! reconfigs of a scale (`addauth digest super:<password>`): `password` (random, made once by
//! the controller when the Secret does not exist; never logged) and `digest`
//! (`super:base64(sha1("super:<password>"))`, ZooKeeper's
//! `DigestAuthenticationProvider.generateDigest`), which each member gets as
//! `-Dzookeeper.DigestAuthenticationProvider.superDigest` from its environment. Pure: the
//! password is an argument.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;

use super::{owned_meta, BuildError, Names};
use crate::crd::ZabEnsemble;

/// Keys of the Secret.
pub const PASSWORD_KEY: &str = "password";
pub const DIGEST_KEY: &str = "digest";
/// The user name of ZooKeeper's super user.
pub const SUPER_USER: &str = "super";

/// `super:<digest>` for the password.
pub fn super_digest(password: &str) -> String {
    zab_datatree::acl::generate_digest(&format!("{SUPER_USER}:{password}"))
}

pub fn build(ens: &ZabEnsemble, names: &Names, password: &str) -> Result<Secret, BuildError> {
    Ok(Secret {
        metadata: owned_meta(ens, names, names.super_secret())?,
        type_: Some("Opaque".to_owned()),
        string_data: Some(BTreeMap::from([
            (PASSWORD_KEY.to_owned(), password.to_owned()),
            (DIGEST_KEY.to_owned(), super_digest(password)),
        ])),
        ..Secret::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_zookeepers() {
        // zab-node's own reconfig test: super:secret.
        assert_eq!(super_digest("secret"), "super:lK75jTNcA+U9vtVEw5vB51mj/w4=");
    }
}
