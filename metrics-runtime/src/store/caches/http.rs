//! Lock-free shortcuts to the HTTP series: per method, its duration histogram and the
//! counters of the first few status codes it answered with. A request whose method and
//! code are cached records without hashing or taking the family's lock; others fall back
//! to the families. Methods are a closed set of ten, so this is a fixed, small table.

use std::sync::{Arc, OnceLock};

use crate::contract::labels::HttpMethod;
use crate::store::families::series::{CounterSeries, TimedSeries};

/// Status codes remembered per method; most endpoints answer with a handful.
const CODES: usize = 4;

#[derive(Default)]
struct MethodSlot {
    duration: OnceLock<Arc<TimedSeries>>,
    codes: [OnceLock<(u16, Arc<CounterSeries>)>; CODES],
}

/// The cache; one per instance.
pub(crate) struct HttpCache {
    methods: [MethodSlot; HttpMethod::ALL.len()],
}

impl HttpCache {
    pub(crate) fn new() -> Self {
        HttpCache {
            methods: Default::default(),
        }
    }

    /// The duration series of `method`, resolved once with `resolve`.
    #[inline]
    pub(crate) fn duration(
        &self,
        method: HttpMethod,
        resolve: impl FnOnce() -> Arc<TimedSeries>,
    ) -> &TimedSeries {
        self.methods[method.index()].duration.get_or_init(resolve)
    }

    /// The counter of (`method`, `code`), if cached.
    #[inline]
    pub(crate) fn counter(&self, method: HttpMethod, code: u16) -> Option<&CounterSeries> {
        self.methods[method.index()]
            .codes
            .iter()
            .map_while(OnceLock::get)
            .find(|(c, _)| *c == code)
            .map(|(_, series)| &**series)
    }

    /// Remembers the counter of (`method`, `code`) if a slot is free.
    pub(crate) fn remember(&self, method: HttpMethod, code: u16, series: Arc<CounterSeries>) {
        let slots = &self.methods[method.index()].codes;
        if let Some(free) = slots.iter().find(|s| s.get().is_none()) {
            // Another thread may fill it first; then this code is looked up, as before.
            let _ = free.set((code, series));
        }
    }
}
