#![allow(clippy::unwrap_used)]
//! ALB token verification through the real handlers (no sockets but the local key
//! server): tokens signed the way the ALB signs them, and every way one can be wrong.

mod support;

use axum::http::StatusCode;
use serde_json::json;
use support::*;
use tower::ServiceExt;

async fn me_with(world: &World, token: Option<&str>) -> (StatusCode, serde_json::Value) {
    let response = world
        .app()
        .oneshot(with_token("GET", "/api/me", None, token))
        .await
        .unwrap();
    let status = response.status();
    (status, body_json(response).await)
}

#[tokio::test]
async fn a_padded_alb_token_signs_the_user_in() {
    let world = World::new(&[]).await;
    let token = TokenSpec::valid().sign(&alb_key());
    assert!(token.contains('='), "the ALB pads its base64url: {token}");

    let (status, body) = me_with(&world, Some(&token)).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "ada@example.com");
    assert_eq!(body["devIdentity"], false);
    assert_eq!(body["model"], MODEL);
    assert_eq!(world.keys.fetches(), 1);

    // The key is cached: a second request fetches nothing.
    let (status, _) = me_with(&world, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(world.keys.fetches(), 1);
}

#[tokio::test]
async fn an_unpadded_token_is_accepted_too() {
    let world = World::new(&[]).await;
    let mut spec = TokenSpec::valid();
    spec.padded = false;
    let (status, _) = me_with(&world, Some(&spec.sign(&alb_key()))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn refuses_every_kind_of_bad_token_with_401() {
    let world = World::new(&[]).await;
    let valid = TokenSpec::valid().sign(&alb_key());
    let (head, rest) = valid.split_once('.').unwrap();
    let (_payload, signature) = rest.split_once('.').unwrap();
    let tampered_payload = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE,
        json!({"sub": "someone-else", "email": "mallory@example.com", "exp": now() + 120, "iss": ISSUER})
            .to_string(),
    );
    let cases: Vec<(&str, String)> = vec![
        ("forged signer", TokenSpec::valid()
            .header("signer", json!("arn:aws:elasticloadbalancing:us-west-2:999999999999:loadbalancer/app/evil/1"))
            .sign(&alb_key())),
        ("signed with another key", TokenSpec::valid().sign(&other_key())),
        ("alg none, no signature", {
            let t = TokenSpec::valid().header("alg", json!("none")).sign(&alb_key());
            format!("{}.", t.rsplit_once('.').unwrap().0)
        }),
        ("alg HS256", TokenSpec::valid().header("alg", json!("HS256")).sign(&alb_key())),
        ("expired", TokenSpec::valid()
            .header("exp", json!(now() - 600))
            .payload("exp", json!(now() - 600))
            .sign(&alb_key())),
        ("expired in the payload only", TokenSpec::valid()
            .payload("exp", json!(now() - 600))
            .sign(&alb_key())),
        ("tampered payload", format!("{head}.{tampered_payload}.{signature}")),
        ("another issuer", TokenSpec::valid()
            .header("iss", json!("https://evil.example.com/"))
            .payload("iss", json!("https://evil.example.com/"))
            .sign(&alb_key())),
        ("another pool of the same region", TokenSpec::valid()
            .header("iss", json!("https://cognito-idp.us-west-2.amazonaws.com/us-west-2_Other"))
            .payload("iss", json!("https://cognito-idp.us-west-2.amazonaws.com/us-west-2_Other"))
            .sign(&alb_key())),
        ("another pool in the payload only", TokenSpec::valid()
            .payload("iss", json!("https://cognito-idp.us-west-2.amazonaws.com/us-west-2_Other"))
            .sign(&alb_key())),
        ("another app client", TokenSpec::valid().header("client", json!("other")).sign(&alb_key())),
        ("unknown key id", TokenSpec::valid().header("kid", json!("0000-unknown")).sign(&alb_key())),
        ("no subject", {
            let mut spec = TokenSpec::valid();
            spec.payload.as_object_mut().unwrap().remove("sub");
            spec.sign(&alb_key())
        }),
        ("truncated signature", valid[..valid.len() - 8].to_string()),
        ("garbage", "not-a-token".into()),
    ];
    for (name, token) in cases {
        let (status, body) = me_with(&world, Some(&token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert_eq!(body["error"]["kind"], "unauthenticated", "{name}");
    }
}

#[tokio::test]
async fn a_missing_header_is_401_json_for_the_api_and_a_page_for_the_ui() {
    let world = World::new(&[]).await;
    let (status, body) = me_with(&world, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["kind"], "unauthenticated");

    let response = world
        .app()
        .oneshot(with_token("GET", "/", None, None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = body_text(response).await;
    assert!(page.contains("Not signed in"), "{page}");
}

#[tokio::test]
async fn a_huge_header_is_refused_without_a_key_fetch() {
    let world = World::new(&[]).await;
    let huge = format!(
        "{}{}",
        TokenSpec::valid().sign(&alb_key()),
        "A".repeat(64 * 1024)
    );
    let (status, _) = me_with(&world, Some(&huge)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(world.keys.fetches(), 0);
}

#[tokio::test]
async fn bad_signer_and_alg_are_refused_before_any_key_fetch() {
    let world = World::new(&[]).await;
    for token in [
        TokenSpec::valid()
            .header("signer", json!("arn:other"))
            .sign(&alb_key()),
        TokenSpec::valid()
            .header("alg", json!("none"))
            .sign(&alb_key()),
    ] {
        let (status, _) = me_with(&world, Some(&token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(world.keys.fetches(), 0);
}

#[tokio::test]
async fn an_unreachable_key_server_is_503_never_a_pass() {
    let closed = closed_url().await;
    let world = World::new(&[("CHATBOT_ALB_KEYS_URL", closed.as_str())]).await;
    let token = TokenSpec::valid().sign(&alb_key());

    let (status, body) = me_with(&world, Some(&token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["kind"], "key_server");

    // The page says so too, with 503.
    let response = world
        .app()
        .oneshot(with_token("GET", "/", None, Some(&token)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_key_server_error_or_a_non_key_is_503() {
    let world = World::new(&[]).await;
    let token = TokenSpec::valid()
        .header("kid", json!("server-error"))
        .sign(&alb_key());
    let (status, _) = me_with(&world, Some(&token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    world.keys.publish_raw("not-pem", "<html>hello</html>");
    let token = TokenSpec::valid()
        .header("kid", json!("not-pem"))
        .sign(&alb_key());
    let (status, _) = me_with(&world, Some(&token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn the_key_cache_is_bounded() {
    let world = World::new(&[]).await;
    let bedrock_chatbot::auth::Authenticator::Alb(verifier) = world.state.auth.as_ref() else {
        panic!("ALB mode expected");
    };
    for i in 0..(bedrock_chatbot::auth::KEY_CACHE_CAPACITY + 10) {
        let kid = format!("key-{i}");
        world.keys.publish(&kid, &alb_key());
        let token = TokenSpec::valid()
            .header("kid", json!(kid))
            .sign(&alb_key());
        let (status, _) = me_with(&world, Some(&token)).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(
        verifier.keys().cached_len(),
        bedrock_chatbot::auth::KEY_CACHE_CAPACITY
    );
}

#[tokio::test]
async fn the_configured_issuer_is_the_only_one_accepted() {
    let world = World::new(&[(
        "CHATBOT_TOKEN_ISSUER",
        "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_Other",
    )])
    .await;
    let (status, _) = me_with(&world, Some(&TokenSpec::valid().sign(&alb_key()))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_out_clears_the_alb_cookies_and_goes_through_cognito_logout() {
    let world = World::new(&[]).await;
    let mut request = with_token("GET", "/sign-out", None, None);
    request.headers_mut().insert(
        "cookie",
        "AWSELBAuthSessionCookie-0=a; AWSELBAuthSessionCookie-5=b"
            .parse()
            .unwrap(),
    );

    let response = world.app().oneshot(request).await.unwrap();

    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()["location"],
        "https://team-a.auth.us-west-2.amazoncognito.com/logout?client_id=5c0le2ttoocl1cnt&logout_uri=https%3A%2F%2Fchat.team-a.example.com%2Fsigned-out"
    );
    let cleared: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    for i in [0, 1, 2, 3, 5] {
        assert!(
            cleared
                .iter()
                .any(|c| c.starts_with(&format!("AWSELBAuthSessionCookie-{i}=;"))
                    && c.contains("Max-Age=0")),
            "{cleared:?}"
        );
    }

    let response = world
        .app()
        .oneshot(with_token("GET", "/signed-out", None, None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body_text(response).await.contains("Signed out"));
}

#[tokio::test]
async fn the_dev_identity_signs_everyone_in_and_says_so() {
    let world = World::dev("dev@example.com").await;
    let (status, body) = me_with(&world, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "dev@example.com");
    assert_eq!(body["devIdentity"], true);
}
