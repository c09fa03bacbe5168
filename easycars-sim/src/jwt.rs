//! HS256 JWTs in the documented form: header `{"alg":"HS256","typ":"JWT"}`, payload
//! `{"ClientID","nbf","exp","iat"}`. Each service signs with its own key so that
//! `--strict-token-service` can tell a StockService token from a LeadService one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use easycars_api::wire::TokenClaims;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Which service issued a token: the API's own service names.
pub use easycars_api::route::Service;

/// Issues and verifies tokens.
pub struct Signer {
    stock_key: [u8; 32],
    lead_key: [u8; 32],
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

impl Signer {
    /// Keys derived from the seed (deterministic, never printed).
    pub fn new(seed: u64) -> Self {
        let key = |svc: &str| -> [u8; 32] {
            Sha256::digest(format!("easycars-sim:{seed}:{svc}").as_bytes()).into()
        };
        Signer {
            stock_key: key("StockService"),
            lead_key: key("LeadService"),
        }
    }

    fn key(&self, svc: Service) -> &[u8] {
        match svc {
            Service::Stock => &self.stock_key,
            Service::Lead => &self.lead_key,
        }
    }

    /// Issue a token valid from `now` for `ttl` seconds.
    pub fn issue(&self, svc: Service, client_id: &str, now: i64, ttl: i64) -> String {
        let claims = TokenClaims {
            client_id: client_id.to_string(),
            nbf: now,
            exp: now + ttl,
            iat: now,
        };
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let sig = self.sign(svc, signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    fn sign(&self, svc: Service, input: &[u8]) -> Vec<u8> {
        let mut mac = match HmacSha256::new_from_slice(self.key(svc)) {
            Ok(m) => m,
            Err(_) => return Vec::new(),
        };
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }

    fn verify_sig(&self, svc: Service, input: &[u8], sig: &[u8]) -> bool {
        match HmacSha256::new_from_slice(self.key(svc)) {
            Ok(mut m) => {
                m.update(input);
                m.verify_slice(sig).is_ok()
            }
            Err(_) => false,
        }
    }

    /// Verify a token at time `now`. With `only` set, accept only that service's tokens.
    pub fn verify(&self, token: &str, now: i64, only: Option<Service>) -> Option<TokenClaims> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        if header.get("alg")?.as_str()? != "HS256" {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
        let input = &token.as_bytes()[..h.len() + 1 + p.len()];
        let ok = match only {
            Some(svc) => self.verify_sig(svc, input, &sig),
            None => {
                self.verify_sig(Service::Stock, input, &sig)
                    || self.verify_sig(Service::Lead, input, &sig)
            }
        };
        if !ok {
            return None;
        }
        let claims: TokenClaims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
        (claims.nbf <= now && now < claims.exp).then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_and_verify() {
        let s = Signer::new(7);
        let t = s.issue(Service::Stock, "ABC", 1_000, 600);
        assert_eq!(
            t.split('.').next().unwrap(),
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        );
        let c = s.verify(&t, 1_000, None).unwrap();
        assert_eq!((c.client_id.as_str(), c.exp - c.iat), ("ABC", 600));
        assert!(s.verify(&t, 1_599, Some(Service::Stock)).is_some());
        assert!(s.verify(&t, 1_600, None).is_none());
        assert!(s.verify(&t, 999, None).is_none());
        assert!(s.verify(&t, 1_000, Some(Service::Lead)).is_none());
        assert!(Signer::new(8).verify(&t, 1_000, None).is_none());
        let mut bad = t.clone();
        bad.pop();
        bad.push('A');
        assert!(s.verify(&bad, 1_000, None).is_none() || bad == t);
        assert!(s.verify("garbage", 1_000, None).is_none());
    }
}
