//! The live page (feature `ui`, `metrics.ui`): one page, its script and style sheet,
//! compiled into the crate, and the JSON snapshot it reads every refresh. Nothing runs
//! while nobody looks: rates, quantiles and the heatmap are computed in the page from
//! successive snapshots.
//!
//! Every answer carries a Content-Security-Policy that allows the page's own script,
//! style sheet and snapshot and nothing else (no inline code, no other origin, no
//! frames), so a label value can never run as code even if it got past the escaping.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;

use super::Reply;
use crate::config::{UiConfig, SNAPSHOT_PATH};
use crate::Metrics;

const PAGE: &str = include_str!("../../ui/index.html");
const SCRIPT: &str = include_str!("../../ui/keychain-ui.js");
const STYLE: &str = include_str!("../../ui/keychain-ui.css");

/// The policy of the page and everything it loads.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// What a browser opening the page with only a bearer token configured is told.
pub(crate) const TOKEN_ONLY: &str = "401: this page needs basic_auth_users (or a client \
    certificate) in metrics:, because a browser cannot send a bearer token when it opens a \
    page; scripts can read /api/v1/snapshot with the token.\n";

impl Metrics {
    /// Appends the JSON snapshot of every series (the contract's, the `metrics` facade's
    /// and your registry's) to `out`: what `GET /api/v1/snapshot` answers (feature `ui`),
    /// for serving from a server of your own. Its shape is in the
    /// [live page chapter](crate::guide::live_page).
    ///
    /// ```
    /// use keychain_metrics::{Metrics, Op, Status};
    ///
    /// let metrics = Metrics::new();
    /// metrics.record_operation(Op::Sign, "tpm2", Status::Success, std::time::Duration::from_millis(2));
    /// let mut json = String::new();
    /// metrics.encode_snapshot(&mut json);
    /// assert!(json.contains(r#"{"labels":{"backend":"tpm2","operation":"sign","status":"success"},"value":1}"#));
    /// ```
    pub fn encode_snapshot(&self, out: &mut String) {
        let now = crate::clock::coarse_unix_ms();
        crate::exposition::snapshot::encode(&self.store, now, out);
    }
}

/// What the port serves beside the exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Page,
    Script,
    Style,
    Snapshot,
}

impl Route {
    /// Whether a browser opens it (a person), rather than a script fetching data.
    pub(crate) fn is_for_browsers(self) -> bool {
        self != Route::Snapshot
    }
}

/// A static answer, plain and gzipped (compressed once, at start).
struct Asset {
    content_type: &'static str,
    plain: Bytes,
    gzipped: Bytes,
}

impl Asset {
    fn new(content_type: &'static str, text: &'static str) -> Self {
        Asset {
            content_type,
            plain: Bytes::from_static(text.as_bytes()),
            gzipped: Bytes::from(crate::exposition::gzip(text.as_bytes())),
        }
    }
}

/// The page's routes and bodies.
pub(crate) struct Ui {
    page: String,
    /// The script's and the style sheet's paths.
    assets: [String; 2],
    bodies: [Asset; 3],
}

impl Ui {
    pub(crate) fn new(config: &UiConfig) -> Self {
        Ui {
            page: config.path.clone(),
            assets: config.asset_paths(),
            bodies: [
                Asset::new("text/html; charset=utf-8", PAGE),
                Asset::new("text/javascript; charset=utf-8", SCRIPT),
                Asset::new("text/css; charset=utf-8", STYLE),
            ],
        }
    }

    /// What `path` names, if it is one of the page's routes.
    pub(crate) fn route(&self, path: &str) -> Option<Route> {
        if path == self.page {
            Some(Route::Page)
        } else if path == self.assets[0] {
            Some(Route::Script)
        } else if path == self.assets[1] {
            Some(Route::Style)
        } else if path == SNAPSHOT_PATH {
            Some(Route::Snapshot)
        } else {
            None
        }
    }

    /// The answer to an admitted request for `route`.
    pub(crate) fn answer(&self, route: Route, metrics: &Metrics, gzip: bool) -> Reply {
        let (content_type, body) = match route {
            Route::Snapshot => {
                let mut json = String::new();
                metrics.encode_snapshot(&mut json);
                let body = match gzip {
                    true => Bytes::from(crate::exposition::gzip(json.as_bytes())),
                    false => Bytes::from(json),
                };
                ("application/json", body)
            }
            static_route => {
                let asset = &self.bodies[static_route as usize];
                let body = if gzip { &asset.gzipped } else { &asset.plain };
                (asset.content_type, body.clone())
            }
        };
        let mut response = Response::new(Full::new(body));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if gzip {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        // The snapshot is news every time; the page and its assets are checked again.
        let cache = if route == Route::Snapshot {
            "no-store"
        } else {
            "no-cache"
        };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        secure(headers);
        response
    }
}

/// The headers every answer of the page carries, refusals included.
pub(crate) fn secure(headers: &mut http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// A `401` for a browser when only a bearer token could admit it: it says why.
pub(crate) fn token_only(challenge: &'static str) -> Reply {
    let mut response = super::reply(StatusCode::UNAUTHORIZED, TOKEN_ONLY);
    let headers = response.headers_mut();
    headers.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    secure(headers);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_beside_a_page_in_a_folder() {
        let ui = Ui::new(&UiConfig::at("/debug/live"));
        assert_eq!(ui.route("/debug/live"), Some(Route::Page));
        assert_eq!(ui.route("/debug/keychain-ui.js"), Some(Route::Script));
        assert_eq!(ui.route("/debug/keychain-ui.css"), Some(Route::Style));
        assert_eq!(ui.route("/api/v1/snapshot"), Some(Route::Snapshot));
        assert_eq!(ui.route("/keychain-ui.js"), None);
        assert_eq!(ui.route("/"), None);
    }

    #[test]
    fn the_page_loads_only_its_own_assets_by_relative_address() {
        assert!(PAGE.contains(r#"<script src="keychain-ui.js" defer></script>"#));
        assert!(PAGE.contains(r#"<link rel="stylesheet" href="keychain-ui.css">"#));
        for text in [PAGE, SCRIPT, STYLE] {
            // No other origin, no inline handlers or styles the policy would block (the
            // SVG namespace is a name, not an address).
            let text = text.replace("'http://www.w3.org/2000/svg'", "");
            for banned in [
                "http://", "https://", "//cdn", "onclick=", "onload=", "style=\"",
            ] {
                assert!(!text.contains(banned), "{banned}");
            }
        }
        assert!(!PAGE.contains("<script>") && !PAGE.contains("<style>"));
    }

    #[test]
    fn static_answers_carry_the_policy_and_their_type() {
        let ui = Ui::new(&UiConfig::at("/"));
        let metrics = Metrics::new();
        for (route, content_type, body) in [
            (Route::Page, "text/html; charset=utf-8", PAGE),
            (Route::Script, "text/javascript; charset=utf-8", SCRIPT),
            (Route::Style, "text/css; charset=utf-8", STYLE),
        ] {
            let response = ui.answer(route, &metrics, false);
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], content_type);
            assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CSP);
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
            assert_eq!(ui.bodies[route as usize].plain, body.as_bytes());
        }
        let snapshot = ui.answer(Route::Snapshot, &metrics, false);
        assert_eq!(snapshot.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(snapshot.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(snapshot.headers()[header::CONTENT_SECURITY_POLICY], CSP);
    }
}
