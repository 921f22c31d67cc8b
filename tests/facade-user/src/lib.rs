//! A cache that counts its hits and misses through the `metrics` facade, as a
//! dependency of a keychain service would: it imports nothing but `metrics`.

use std::collections::HashMap;

/// A key cache that reports its hits, misses and size.
#[derive(Default)]
pub struct KeyCache {
    entries: HashMap<String, Vec<u8>>,
}

impl KeyCache {
    /// Describes the cache's metrics to whichever recorder is installed.
    pub fn describe() {
        metrics::describe_counter!("key_cache.lookups", "Key cache lookups, by result.");
        metrics::describe_gauge!("key_cache.entries", "Keys held in the cache.");
        metrics::describe_histogram!(
            "key_cache.value_size",
            metrics::Unit::Bytes,
            "Size of the values stored."
        );
    }

    /// Stores a key.
    pub fn put(&mut self, id: &str, value: Vec<u8>) {
        metrics::histogram!("key_cache.value_size").record(value.len() as f64);
        self.entries.insert(id.to_owned(), value);
        metrics::gauge!("key_cache.entries").set(self.entries.len() as f64);
    }

    /// Looks a key up, counting a hit or a miss.
    pub fn get(&self, id: &str) -> Option<&[u8]> {
        let found = self.entries.get(id).map(Vec::as_slice);
        let result = if found.is_some() { "hit" } else { "miss" };
        metrics::counter!("key_cache.lookups", "result" => result).increment(1);
        found
    }
}
