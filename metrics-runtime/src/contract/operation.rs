//! [`Operation`]: the `operation` label value, one of the 15 built-in [`Op`]s or one a
//! service declares itself (`unwrap_key`, `attest`, …).

use std::fmt;

use crate::contract::cardinality::OVERFLOW;
use crate::contract::labels::Op;

use crate::contract::operation_rule::invalid_reason;

/// Longest user operation name, in bytes.
pub const MAX_OPERATION_LEN: usize = crate::contract::operation_rule::MAX_LEN;

/// An `operation` label value: a built-in [`Op`] or a service's own operation.
///
/// Every recording method takes `impl Into<Operation>`, so an `Op`, a `&'static str`
/// or an enum deriving [`Operation`](derive@crate::Operation) can be passed. A string
/// that spells a built-in (`"sign"`) is that built-in; any other valid name (lower
/// snake_case ASCII: a letter, then letters, digits and `_`, at most
/// [`MAX_OPERATION_LEN`] bytes) is a user operation; anything else is recorded as
/// `other`. `#[instrument_op("unwrap_key", …)]` checks the same rules at compile time.
///
/// ```
/// use keychain_metrics::{Op, Operation};
///
/// assert_eq!(Operation::from("unwrap_key").as_str(), "unwrap_key");
/// assert_eq!(Operation::from("sign"), Operation::from(Op::Sign));
/// assert_eq!(Operation::from("Not Valid").as_str(), "other");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operation(Repr);

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Repr {
    Builtin(Op),
    User(&'static str),
}

impl Operation {
    /// A built-in operation.
    pub const fn builtin(op: Op) -> Self {
        Operation(Repr::Builtin(op))
    }

    /// A name the attribute or the derive has checked at compile time: valid, and not
    /// the spelling of a built-in. Not for other use.
    #[doc(hidden)]
    pub const fn __checked(name: &'static str) -> Self {
        Operation(Repr::User(name))
    }

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self.0 {
            Repr::Builtin(op) => op.as_str(),
            Repr::User(name) => name,
        }
    }

    /// The built-in this is, if it is one.
    pub const fn builtin_op(self) -> Option<Op> {
        match self.0 {
            Repr::Builtin(op) => Some(op),
            Repr::User(_) => None,
        }
    }
}

impl From<Op> for Operation {
    fn from(op: Op) -> Self {
        Operation::builtin(op)
    }
}

impl From<&'static str> for Operation {
    /// The built-in a name spells, a user operation, or `other` for an invalid name.
    /// Checked once per string: the verdict is kept by the string's address, so a
    /// name passed on every call costs a load and a compare.
    #[inline]
    fn from(name: &'static str) -> Self {
        resolved::get(name).unwrap_or_else(|| resolve(name))
    }
}

/// The check itself, out of line: the parse and the rule.
#[cold]
#[inline(never)]
fn resolve(name: &'static str) -> Operation {
    let operation = match name.parse::<Op>() {
        Ok(op) => Operation::builtin(op),
        Err(_) => match invalid_reason(name) {
            None => Operation(Repr::User(name)),
            Some(_) => Operation(Repr::User(OVERFLOW)),
        },
    };
    resolved::put(name, operation);
    operation
}

/// Verdicts on `&'static str` names by address: a string at a static address never
/// changes, so the name at one address and length resolves the same way every time.
///
/// A direct-mapped table of packed words (address · length · verdict), each read and
/// written whole, so a reader sees one entry's parts together. Two names that map to
/// one slot take turns in it; a name that does not fit the packing is checked every
/// time.
mod resolved {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::{Operation, Repr};
    use crate::contract::cardinality::OVERFLOW;
    use crate::contract::labels::Op;

    const SLOTS: usize = 256;
    /// Address bits kept: user-space addresses of the platforms this runs on.
    const ADDRESS_BITS: u32 = 48;
    /// The verdicts: the name itself (a user operation), `other`, or built-in `n - 2`.
    const ITSELF: u64 = 0;
    const OTHER: u64 = 1;

    static TABLE: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

    /// The word for `name` with `verdict`, if the name fits: address in the high 48
    /// bits, length (under 256 bytes) and verdict in the low 16. An empty slot (0)
    /// matches no name, whose address is never 0.
    fn key(name: &str) -> Option<u64> {
        let address = name.as_ptr() as u64;
        (address >> ADDRESS_BITS == 0 && name.len() < 256)
            .then_some(address << 16 | (name.len() as u64) << 8)
    }

    fn slot(name: &str) -> &'static AtomicU64 {
        // The low bits of an address are often alike (alignment): mix before taking some.
        let mixed = (name.as_ptr() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56;
        &TABLE[mixed as usize % SLOTS]
    }

    #[inline]
    pub(super) fn get(name: &'static str) -> Option<Operation> {
        let key = key(name)?;
        let word = slot(name).load(Ordering::Relaxed);
        if word & !0xFF != key {
            return None;
        }
        Some(match word & 0xFF {
            ITSELF => Operation(Repr::User(name)),
            OTHER => Operation(Repr::User(OVERFLOW)),
            n => Operation::builtin(*Op::ALL.get(n as usize - 2)?),
        })
    }

    pub(super) fn put(name: &'static str, operation: Operation) {
        let Some(key) = key(name) else { return };
        let verdict = match operation.0 {
            Repr::Builtin(op) => op.index() as u64 + 2,
            Repr::User(n) if std::ptr::eq(n, name) => ITSELF,
            Repr::User(_) => OTHER,
        };
        slot(name).store(key | verdict, Ordering::Relaxed);
    }
}

impl PartialEq<Op> for Operation {
    fn eq(&self, other: &Op) -> bool {
        self.builtin_op() == Some(*other)
    }
}

impl fmt::Debug for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::Builtin(op) => fmt::Debug::fmt(&op, f),
            Repr::User(name) => write!(f, "Operation({name:?})"),
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_resolves_the_same_from_its_kept_verdict() {
        let names: [&'static str; 4] = ["unwrap_key", "sign", "Not Valid", "health_check"];
        for _ in 0..3 {
            let got: Vec<&str> = names.iter().map(|n| Operation::from(*n).as_str()).collect();
            assert_eq!(got, ["unwrap_key", "sign", "other", "health_check"]);
            assert_eq!(Operation::from("sign"), Op::Sign);
        }
        // The same bytes at another address, and a prefix at the same address, are
        // checked on their own.
        let leaked: &'static str = Box::leak("unwrap_key".to_owned().into_boxed_str());
        assert_eq!(Operation::from(leaked).as_str(), "unwrap_key");
        assert_eq!(Operation::from(&leaked[..6]).as_str(), "unwrap");
        assert_eq!(Operation::from(&"signature"[..4]), Op::Sign);
        assert_eq!(Operation::from("signature").as_str(), "signature");
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(Operation::from("wrap_key").as_str(), "wrap_key");
        assert_eq!(Operation::from("x9_2").as_str(), "x9_2");
        assert_eq!(Operation::from("health_check"), Op::HealthCheck);
        for bad in ["", "WrapKey", "9lives", "wrap-key", "wrap key", "ünwrap"] {
            assert_eq!(Operation::from(bad).as_str(), "other", "{bad:?}");
        }
        let long: &'static str = Box::leak("a".repeat(65).into_boxed_str());
        assert_eq!(Operation::from(long).as_str(), "other");
        assert_eq!(Operation::from(&long[..64]).as_str().len(), 64);
    }

    #[test]
    fn the_built_ins_are_the_shared_list() {
        // The macros crate accepts exactly these names: `operation_rule::BUILTINS`.
        let ops: Vec<(String, &str)> = Op::ALL
            .iter()
            .map(|op| (format!("{op:?}"), op.as_str()))
            .collect();
        let shared: Vec<(String, &str)> = crate::contract::operation_rule::BUILTINS
            .iter()
            .map(|&(variant, label)| (variant.to_owned(), label))
            .collect();
        assert_eq!(ops, shared);
    }
}
