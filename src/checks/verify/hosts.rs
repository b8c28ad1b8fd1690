//! One registry client per cache host, for the stages that talk to the cache (verify,
//! warm). A cache's subdomain or port method serves each upstream on a host of its own,
//! each with its own credentials and token, so targets are grouped by the host that
//! serves them and each group gets its own client.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};

use super::RegistryOptions;
use crate::mapping::Mapper;
use crate::registry::{ClientOptions, Credentials, RegistryClient, Target};

/// `targets` grouped by the host that serves them, in host order; `harbor` alone (with
/// none) when there are no targets, so a run still reaches the cache it was given.
pub fn by_host<'t>(harbor: &'t str, targets: &'t [Target]) -> BTreeMap<&'t str, Vec<Target>> {
    let mut groups: BTreeMap<&str, Vec<Target>> = BTreeMap::new();
    for t in targets {
        groups.entry(t.host.as_str()).or_default().push(t.clone());
    }
    if groups.is_empty() {
        groups.insert(harbor, Vec::new());
    }
    groups
}

/// A client for `host` with the registry options, the config's token realms and the
/// credentials the environment or the docker config hold for that host.
pub fn client(
    host: &str,
    args: &RegistryOptions,
    mapper: &Mapper,
    timeout: Duration,
) -> Result<RegistryClient> {
    let credentials = Credentials::discover(host, &args.credentials)
        .map_err(anyhow::Error::msg)
        .context("cannot read registry credentials")?;
    Ok(RegistryClient::new(&ClientOptions {
        host: host.to_string(),
        plain_http: args.plain_http,
        cacert: args.cacert.clone(),
        insecure: args.insecure,
        timeout,
        retries: args.retries,
        credentials,
        token_realms: mapper.token_realms().to_vec(),
        resolve: args.resolve.clone(),
    })?)
}
