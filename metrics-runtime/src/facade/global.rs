//! The process-wide instance the `#[instrument_op]` attribute records into.

use std::fmt;
use std::sync::OnceLock;

use crate::facade::Metrics;

static GLOBAL: OnceLock<Metrics> = OnceLock::new();

/// [`Metrics::install_global`] was called after the global instance was already in use
/// or installed; the rejected instance is handed back.
pub struct GlobalAlreadySet(pub Metrics);

impl fmt::Debug for GlobalAlreadySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GlobalAlreadySet")
    }
}

impl fmt::Display for GlobalAlreadySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the global Metrics is already initialised: call install_global before \
             anything records into Metrics::global()",
        )
    }
}

impl std::error::Error for GlobalAlreadySet {}

impl Metrics {
    /// The process-wide instance: the one installed with [`Metrics::install_global`],
    /// or else a default [`Metrics::new`] created on first use.
    pub fn global() -> &'static Metrics {
        GLOBAL.get_or_init(Metrics::new)
    }

    /// Makes `metrics` the process-wide instance. Only possible once, and only before
    /// the first call of [`Metrics::global`]; afterwards it returns the instance back.
    ///
    /// ```
    /// use keychain_metrics::Metrics;
    ///
    /// let metrics = Metrics::builder().const_label("service", "keychain").build()?;
    /// Metrics::install_global(metrics.clone()).expect("first install");
    /// assert!(Metrics::install_global(Metrics::new()).is_err());
    /// # Ok::<(), keychain_metrics::BuildError>(())
    /// ```
    pub fn install_global(metrics: Metrics) -> Result<(), GlobalAlreadySet> {
        GLOBAL.set(metrics).map_err(GlobalAlreadySet)
    }

    /// The global instance, if this is it: a reference that lives as long as the
    /// process, which the layers hold per request instead of a clone.
    pub(crate) fn as_global(&self) -> Option<&'static Metrics> {
        GLOBAL
            .get()
            .filter(|global| std::sync::Arc::ptr_eq(&global.store, &self.store))
    }
}
