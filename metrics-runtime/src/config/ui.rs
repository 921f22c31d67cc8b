//! `metrics.ui`: the live page on the metrics port (feature `ui`), as written and checked.
//!
//! ```yaml
//! metrics:
//!   ui:
//!     enabled: true   # default false
//!     path: /         # default /; its script and style sheet sit beside it
//! ```

use serde::Deserialize;

use super::{invalid, ConfigError};

/// Where the JSON snapshot the page reads is served, for scripts too.
pub const SNAPSHOT_PATH: &str = "/api/v1/snapshot";

/// The names of the page's script and style sheet, served beside the page (in the
/// folder of its path), so the page finds them by a relative address behind a proxy too.
pub(crate) const ASSETS: [&str; 2] = ["keychain-ui.js", "keychain-ui.css"];

/// `metrics.ui`: a page of its own on the metrics port, for people (feature `ui`). Off
/// unless enabled; it sits behind the same TLS, client certificate and basic
/// authentication as the exposition. See the [live page chapter](crate::guide::live_page).
///
/// ```
/// use keychain_metrics::config::{MetricsConfig, UiConfig};
///
/// let mut config = MetricsConfig::default();
/// config.ui = UiConfig::at("/status");
/// assert!(config.validate().is_ok());
/// assert_eq!(MetricsConfig::from_yaml("metrics: { ui: { enabled: true } }")?.ui, UiConfig::at("/"));
/// # Ok::<(), keychain_metrics::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UiConfig {
    /// Whether the page and its snapshot (`GET /api/v1/snapshot`) are served.
    pub enabled: bool,
    /// Where the page is served, `/` by default.
    pub path: String,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            enabled: false,
            path: "/".into(),
        }
    }
}

impl UiConfig {
    /// The page enabled at `path`.
    pub fn at(path: impl Into<String>) -> Self {
        UiConfig {
            enabled: true,
            path: path.into(),
        }
    }

    /// The folder the page's assets are served from: its path up to the last `/`.
    pub(crate) fn folder(&self) -> &str {
        let end = self.path.rfind('/').map_or(0, |i| i + 1);
        &self.path[..end]
    }

    /// The paths of the page's assets, in the order of [`ASSETS`].
    pub(crate) fn asset_paths(&self) -> [String; 2] {
        ASSETS.map(|name| format!("{}{name}", self.folder()))
    }

    /// The page's path is a plain path that no other route of the port takes.
    pub(super) fn check(&self, metrics_path: &str) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        let shown = format!("{:?}", self.path);
        if !self.path.starts_with('/') || !super::is_plain_path(&self.path) {
            return Err(invalid(
                "metrics.ui.path",
                shown,
                "must be a plain URL path starting with /: no spaces, control characters, ? or #",
            ));
        }
        let assets = self.asset_paths();
        if self.path == metrics_path || self.path == SNAPSHOT_PATH || assets.contains(&self.path) {
            return Err(invalid(
                "metrics.ui.path",
                shown,
                "is taken by the exposition, the snapshot or the page's own assets",
            ));
        }
        if metrics_path == SNAPSHOT_PATH || assets.iter().any(|a| a == metrics_path) {
            return Err(invalid(
                "metrics.path",
                format!("{metrics_path:?}"),
                "is taken by the live page (metrics.ui): choose another path",
            ));
        }
        Ok(())
    }
}

/// `metrics.ui` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUi {
    enabled: Option<bool>,
    path: Option<String>,
}

impl RawUi {
    pub(super) fn read(self) -> UiConfig {
        let defaults = UiConfig::default();
        UiConfig {
            enabled: self.enabled.unwrap_or(defaults.enabled),
            path: self.path.unwrap_or(defaults.path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MetricsConfig;

    fn error(yaml: &str) -> String {
        MetricsConfig::from_yaml(yaml).unwrap_err().to_string()
    }

    #[test]
    fn off_by_default_and_read_from_yaml() {
        assert_eq!(MetricsConfig::default().ui, UiConfig::default());
        assert!(!UiConfig::default().enabled);
        let config =
            MetricsConfig::from_yaml("metrics: { ui: { enabled: true, path: /debug/live } }");
        let ui = config.unwrap().ui;
        assert_eq!(ui, UiConfig::at("/debug/live"));
        assert_eq!(
            ui.asset_paths(),
            ["/debug/keychain-ui.js", "/debug/keychain-ui.css"]
        );
        assert_eq!(UiConfig::at("/").asset_paths()[0], "/keychain-ui.js");
    }

    #[test]
    fn a_bad_or_taken_path_is_named() {
        assert_eq!(
            error("metrics: { ui: { enabled: true, path: /metrics } }"),
            "metrics.ui.path: \"/metrics\": is taken by the exposition, the snapshot or the page's own assets"
        );
        assert_eq!(
            error("metrics: { ui: { enabled: true, path: /api/v1/snapshot } }"),
            "metrics.ui.path: \"/api/v1/snapshot\": is taken by the exposition, the snapshot or the page's own assets"
        );
        assert!(error("metrics: { ui: { enabled: true, path: 'ui' } }")
            .starts_with("metrics.ui.path: \"ui\": must be a plain URL path"));
        assert_eq!(
            error("metrics: { path: /keychain-ui.js, ui: { enabled: true } }"),
            "metrics.path: \"/keychain-ui.js\": is taken by the live page (metrics.ui): choose another path"
        );
        assert!(error("metrics: { ui: { enable: true } }").contains("enable"));
        // Disabled, the path is not looked at.
        assert!(MetricsConfig::from_yaml("metrics: { ui: { path: /metrics } }").is_ok());
    }
}
