//! Hostile REST requests, as properties: any body, with hostile path segments and
//! content types, sent to the example keychain's router gets a 2xx or 4xx answer and
//! leaves consistent metrics (`keychain_metrics_invariants::rest`, also fuzzed in
//! `fuzz/`).

use keychain_metrics_invariants::rest::{check, Case, BACKENDS, CONTENT_TYPES, IDS, ROUTES};
use proptest::prelude::*;

/// A JSON string: hostile text, base64-looking text, or a PEM-looking block.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9+/]{0,64}={0,2}",
        "ecdsa_p256|ed25519|aes256_gcm|rsa|ECDSA_P256|",
        "-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/\n]{0,200}\n-----END PRIVATE KEY-----\n",
    ]
}

fn json_body() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        text().prop_map(serde_json::Value::String),
        any::<i64>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
        proptest::collection::vec((text(), text()), 0..4).prop_map(|pairs| {
            serde_json::Value::from(
                pairs
                    .into_iter()
                    .map(|(id, pem)| serde_json::json!([id, pem]))
                    .collect::<Vec<_>>(),
            )
        }),
    ];
    let field = "kind|pem|data|signature|keys|extra";
    proptest::collection::btree_map(field, value, 0..4)
        .prop_map(|fields| serde_json::to_vec(&fields).unwrap_or_default())
}

fn case() -> impl Strategy<Value = Case> {
    let body = prop_oneof![
        json_body(),
        proptest::collection::vec(any::<u8>(), 0..512),
        // Over the 64 KiB body limit.
        (65_537usize..70_000).prop_map(|n| vec![b'{'; n]),
    ];
    (
        0..ROUTES.len(),
        0..BACKENDS.len(),
        0..IDS.len(),
        0..CONTENT_TYPES.len(),
        body,
    )
        .prop_map(|(route, backend, id, content_type, body)| Case {
            route,
            backend,
            id,
            content_type,
            body,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_request_gets_a_2xx_or_4xx_and_consistent_metrics(case in case()) {
        if let Err(violation) = check(&case) {
            prop_assert!(false, "{}", violation);
        }
    }
}

fn status(route: &str, id: usize, body: &str) -> u16 {
    let route = ROUTES.iter().position(|r| r.2 == route).unwrap();
    check(&Case {
        route,
        backend: 0,
        id,
        content_type: 0,
        body: body.as_bytes().to_vec(),
    })
    .unwrap()
}

/// The check is not vacuous: valid requests succeed through it, and each kind of bad
/// one gets its own 4xx.
#[test]
fn valid_requests_succeed_and_bad_ones_get_their_4xx() {
    assert_eq!(status("generate", 0, r#"{"kind":"ed25519"}"#), 201);
    assert_eq!(status("sign", 0, r#"{"data":"aGVsbG8="}"#), 200);
    assert_eq!(status("encrypt", 2, r#"{"data":"aGVsbG8="}"#), 200);
    assert_eq!(status("list", 0, ""), 200);
    assert_eq!(status("generate", 0, r#"{"kind":"rsa"}"#), 400);
    assert_eq!(status("sign", 3, r#"{"data":"aGVsbG8="}"#), 404);
    assert_eq!(status("encrypt", 0, r#"{"data":"aGVsbG8="}"#), 422);
    assert_eq!(status("generate", 0, "{"), 400);
    assert_eq!(status("generate", 0, r#"{"kind":5}"#), 422);
    assert_eq!(status("restore", 0, r#"{"keys":[["../x","pem"]]}"#), 400);
    let unknown_backend = Case {
        route: 1,
        backend: 2,
        body: br#"{"kind":"ed25519"}"#.to_vec(),
        ..Case::default()
    };
    assert_eq!(check(&unknown_backend).unwrap(), 400);
    let no_content_type = Case {
        route: 1,
        content_type: 1,
        body: br#"{"kind":"ed25519"}"#.to_vec(),
        ..Case::default()
    };
    assert_eq!(check(&no_content_type).unwrap(), 415);
}
