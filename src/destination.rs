//! Where decrypted credentials may be sent: EasyCars itself, and the hosts a superuser allows.
//!
//! A base URL can come from a credentials row (an easycars_admin may update it) or from a foreign
//! server's options (whoever owns the server wrote it). Neither of those roles may read secrets,
//! so neither may choose where the server sends them: before any request the API root must be one
//! of the two EasyCars roots over https, or a host listed in the superuser-only setting
//! `easycars.allowed_hosts` (the simulator, a proxy). Plain http is accepted for loopback hosts
//! only. The HTTP client follows no redirects, so the check holds for the whole exchange.

use crate::gucs;
use easycars_api::client::{PRODUCTION_ROOT, TEST_ROOT};

/// Why a base URL may not receive credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the EasyCars API root must be an http:// or https:// URL with a host")]
    Malformed,
    #[error("credentials are not sent to host \"{0}\"")]
    HostNotAllowed(String),
    #[error("credentials are sent to host \"{0}\" only over https")]
    PlainHttp(String),
}

/// The scheme, lower-cased host and effective port of a URL.
#[derive(Debug, PartialEq, Eq)]
struct Authority {
    https: bool,
    host: String,
    port: u16,
}

fn authority(url: &str) -> Option<Authority> {
    let (https, rest) = if let Some(r) = strip_prefix_ci(url, "https://") {
        (true, r)
    } else {
        (false, strip_prefix_ci(url, "http://")?)
    };
    let auth = rest.split(['/', '?', '#']).next()?;
    if auth.is_empty() || auth.contains('@') {
        return None;
    }
    let default_port = if https { 443 } else { 80 };
    let (host, port) = split_host_port(auth, default_port)?;
    Some(Authority { https, host, port })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, host lower-cased.
fn split_host_port(auth: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(v6) = auth.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (format!("[{host}]"), after.strip_prefix(':'))
    } else {
        match auth.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (auth.to_owned(), None),
        }
    };
    if host.is_empty() || host.contains(':') && !host.starts_with('[') {
        return None;
    }
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0)?,
        None => default_port,
    };
    Some((host.to_ascii_lowercase(), port))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `url` may receive credentials, given the `allowed_hosts` list (`host` or `host:port`,
/// separated by commas or spaces).
pub fn check_with(url: &str, allowed_hosts: &str) -> Result<(), Refused> {
    let target = authority(url).ok_or(Refused::Malformed)?;
    let easycars = [TEST_ROOT, PRODUCTION_ROOT]
        .iter()
        .filter_map(|root| authority(root))
        .any(|root| root == target);
    if easycars {
        return Ok(());
    }
    let listed = allowed_hosts
        .split([',', ' ', '\t', '\n'])
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            let has_port = entry.starts_with('[') && entry.contains("]:")
                || !entry.starts_with('[') && entry.contains(':');
            split_host_port(entry, 0).map(|(host, port)| (host, has_port.then_some(port)))
        })
        .any(|(host, port)| host == target.host && port.is_none_or(|p| p == target.port));
    if !listed {
        return Err(Refused::HostNotAllowed(target.host));
    }
    if !target.https && !is_loopback(&target.host) {
        return Err(Refused::PlainHttp(target.host));
    }
    Ok(())
}

/// Whether `url` may receive credentials under the current `easycars.allowed_hosts`.
pub fn check(url: &str) -> Result<(), Refused> {
    check_with(url, &gucs::allowed_hosts())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easycars_roots_always_pass() {
        assert_eq!(check_with(TEST_ROOT, ""), Ok(()));
        assert_eq!(check_with(PRODUCTION_ROOT, ""), Ok(()));
        assert_eq!(
            check_with("HTTPS://MY.easycars.net.au:443/ECService", ""),
            Ok(())
        );
    }

    #[test]
    fn other_hosts_need_listing() {
        let evil = "https://evil.example/ECService";
        assert_eq!(
            check_with(evil, ""),
            Err(Refused::HostNotAllowed("evil.example".into()))
        );
        assert_eq!(check_with(evil, "evil.example"), Ok(()));
        assert!(check_with(evil, "evil.example:8443").is_err());
        assert!(check_with("http://my.easycars.net.au/ECService", "").is_err());
        assert!(check_with("https://my.easycars.net.au.evil.example/x", "").is_err());
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert_eq!(check_with("http://127.0.0.1:8080/x", "127.0.0.1"), Ok(()));
        assert_eq!(
            check_with("http://127.0.0.1:8080/x", "127.0.0.1:8080"),
            Ok(())
        );
        assert!(check_with("http://127.0.0.1:8081/x", "127.0.0.1:8080").is_err());
        assert!(check_with("http://127.0.0.2:8080/x", "127.0.0.1").is_err());
        assert_eq!(
            check_with("http://proxy.internal/x", "proxy.internal"),
            Err(Refused::PlainHttp("proxy.internal".into()))
        );
        assert_eq!(check_with("http://[::1]:9/x", "[::1]"), Ok(()));
    }

    #[test]
    fn malformed_is_refused() {
        for bad in [
            "ftp://x",
            "https://",
            "https://u@host/",
            "https://host:0/",
            "x",
        ] {
            assert_eq!(check_with(bad, "host"), Err(Refused::Malformed), "{bad}");
        }
    }
}
