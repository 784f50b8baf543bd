//! The ALB's `x-amzn-oidc-data` token: a JWT signed ES256 by the load balancer, whose
//! parts are base64url *with* padding — so strict JWT libraries refuse it, and the
//! signature is checked here with `p256` over the first two parts exactly as received.

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::Deserialize;

/// Largest token accepted; real ones are well under 2 KiB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Leeway for clocks that disagree a little, in seconds.
const CLOCK_SKEW_SECONDS: i64 = 30;

/// base64url that takes padded and unpadded input alike.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a token was refused. Shown only in logs: users see one generic sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No token at all.
    #[error("no x-amzn-oidc-data header")]
    Missing,
    /// Larger than [`MAX_TOKEN_BYTES`].
    #[error("the token is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    /// Not three base64url parts of JSON, or a field of the wrong shape.
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    /// `alg` is not ES256 (`none`, `HS256` and the like are refused outright).
    #[error("algorithm {0:?} is not ES256")]
    Algorithm(String),
    /// Signed by another load balancer.
    #[error("signed by {0:?}, not this chatbot's load balancer")]
    Signer(String),
    /// Issued for another Cognito app client.
    #[error("issued for client {0:?}, not this chatbot's")]
    Client(String),
    /// Issued by someone other than the expected Cognito user pool.
    #[error("issued by {0:?}, not the expected issuer")]
    Issuer(String),
    /// The key server does not know the key id.
    #[error("the signing key {0:?} is unknown")]
    UnknownKey(String),
    /// The signature does not verify with the key.
    #[error("the signature does not match")]
    Signature,
    /// Past its `exp`.
    #[error("the token expired")]
    Expired,
}

/// What a token must say to be accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectations {
    /// The `signer`: this chatbot's load balancer ARN.
    pub signer: String,
    /// The `client`: this chatbot's Cognito app client id.
    pub client_id: String,
    /// The `iss`, exactly: this chatbot's user pool issuer URL. Any other pool,
    /// even of the same region and behind the same load balancer, is refused.
    pub issuer: String,
}

/// The signed-in user.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    /// Stable user id (`sub`); per-user limits key on it.
    pub subject: String,
    /// What to show: the e-mail address, else the user name, else the id.
    pub name: String,
}

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    signer: Option<String>,
    iss: Option<String>,
    client: Option<String>,
    exp: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    email: Option<String>,
    username: Option<String>,
    iss: Option<String>,
    exp: Option<i64>,
}

/// A token split and decoded but not yet trusted.
#[derive(Debug)]
pub struct Unverified<'a> {
    signed: &'a str,
    header: Header,
    payload: &'a str,
    signature: Vec<u8>,
}

impl<'a> Unverified<'a> {
    /// Splits and decodes `token`, and makes every check that needs no key: size,
    /// shape, `alg`, `signer`, `client`, `iss`. Cheap refusals come before any key
    /// fetch.
    pub fn parse(token: &'a str, expected: &Expectations) -> Result<Self, AuthFailure> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthFailure::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthFailure::Malformed("not three dot-separated parts"));
        };
        let signed = &token[..header.len() + 1 + payload.len()];
        let header: Header = decode_json(header, "header")?;
        if header.alg != "ES256" {
            return Err(AuthFailure::Algorithm(header.alg));
        }
        let signer = header
            .signer
            .as_deref()
            .ok_or(AuthFailure::Malformed("no signer"))?;
        if signer != expected.signer {
            return Err(AuthFailure::Signer(signer.to_string()));
        }
        let client = header
            .client
            .as_deref()
            .ok_or(AuthFailure::Malformed("no client"))?;
        if client != expected.client_id {
            return Err(AuthFailure::Client(client.to_string()));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or(AuthFailure::Malformed("no kid"))?;
        if !is_key_id(kid) {
            return Err(AuthFailure::Malformed("kid is not a key id"));
        }
        if let Some(iss) = &header.iss
            && *iss != expected.issuer
        {
            return Err(AuthFailure::Issuer(iss.clone()));
        }
        let signature = BASE64URL
            .decode(signature)
            .map_err(|_| AuthFailure::Malformed("signature is not base64url"))?;
        Ok(Self {
            signed,
            header,
            payload,
            signature,
        })
    }

    /// The key id to fetch the public key by; safe to put in a URL path.
    pub fn key_id(&self) -> &str {
        self.header.kid.as_deref().unwrap_or_default()
    }

    /// Checks the signature with `key`, then expiry and claims; `now` is Unix seconds.
    pub fn verify(
        self,
        key: &VerifyingKey,
        expected: &Expectations,
        now: i64,
    ) -> Result<Identity, AuthFailure> {
        // ES256 in a JWS is the raw 64-byte r‖s, not DER.
        let signature =
            Signature::from_slice(&self.signature).map_err(|_| AuthFailure::Signature)?;
        key.verify(self.signed.as_bytes(), &signature)
            .map_err(|_| AuthFailure::Signature)?;

        let claims: Claims = decode_json(self.payload, "payload")?;
        let expiries = [self.header.exp, claims.exp];
        if expiries.iter().all(Option::is_none) {
            return Err(AuthFailure::Malformed("no exp"));
        }
        if expiries
            .iter()
            .flatten()
            .any(|exp| now > exp.saturating_add(CLOCK_SKEW_SECONDS))
        {
            return Err(AuthFailure::Expired);
        }
        match (&self.header.iss, &claims.iss) {
            (None, None) => return Err(AuthFailure::Malformed("no iss")),
            (_, Some(iss)) if *iss != expected.issuer => {
                return Err(AuthFailure::Issuer(iss.clone()));
            }
            _ => {}
        }
        let subject = claims
            .sub
            .filter(|s| !s.is_empty())
            .ok_or(AuthFailure::Malformed("no sub"))?;
        let name = claims
            .email
            .or(claims.username)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| subject.clone());
        Ok(Identity { subject, name })
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(
    part: &str,
    what: &'static str,
) -> Result<T, AuthFailure> {
    let bytes = BASE64URL.decode(part).map_err(|_| {
        AuthFailure::Malformed(if what == "header" {
            "header is not base64url"
        } else {
            "payload is not base64url"
        })
    })?;
    serde_json::from_slice(&bytes).map_err(|_| {
        AuthFailure::Malformed(if what == "header" {
            "header is not the expected JSON"
        } else {
            "payload is not the expected JSON"
        })
    })
}

/// ALB key ids are UUIDs; anything else never reaches a URL.
fn is_key_id(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 128
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected() -> Expectations {
        Expectations {
            signer: "arn:alb".into(),
            client_id: "client".into(),
            issuer: "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_abc".into(),
        }
    }

    fn part(json: &str) -> String {
        // Padded, as the ALB sends it.
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }

    #[test]
    fn refuses_alg_none_and_hs256_before_anything_else() {
        for alg in ["none", "HS256", "es256", "RS256"] {
            let token = format!(
                "{}.{}.",
                part(&format!(
                    r#"{{"alg":"{alg}","kid":"k","signer":"arn:alb","client":"client"}}"#
                )),
                part(r#"{"sub":"u"}"#)
            );
            assert_eq!(
                Unverified::parse(&token, &expected()).unwrap_err(),
                AuthFailure::Algorithm(alg.into())
            );
        }
    }

    #[test]
    fn refuses_shapes_that_are_not_a_jwt() {
        for token in ["", "a.b", "a.b.c.d", "!!!.b.c"] {
            assert!(matches!(
                Unverified::parse(token, &expected()).unwrap_err(),
                AuthFailure::Malformed(_)
            ));
        }
        let path_in_kid = format!(
            "{}.{}.",
            part(r#"{"alg":"ES256","kid":"../../etc","signer":"arn:alb","client":"client"}"#),
            part("{}")
        );
        assert_eq!(
            Unverified::parse(&path_in_kid, &expected()).unwrap_err(),
            AuthFailure::Malformed("kid is not a key id")
        );
    }

    #[test]
    fn only_the_exact_issuer_is_accepted() {
        let header = |iss: &str| {
            format!(
                "{}.{}.",
                part(&format!(
                    r#"{{"alg":"ES256","kid":"k","signer":"arn:alb","client":"client","iss":"{iss}"}}"#
                )),
                part("{}")
            )
        };
        let ours = expected().issuer;
        assert!(Unverified::parse(&header(&ours), &expected()).is_ok());
        for other in [
            // Another pool of the same region, behind the same load balancer.
            "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_other",
            "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_abc2",
            "https://cognito-idp.us-west-2.amazonaws.com/",
            "https://evil.example.com/",
        ] {
            assert_eq!(
                Unverified::parse(&header(other), &expected()).unwrap_err(),
                AuthFailure::Issuer(other.into())
            );
        }
    }
}
