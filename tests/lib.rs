//! Cross-crate tests of keychain-metrics live in `tests/`; this library is empty.
