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
    fn from(name: &'static str) -> Self {
        if let Ok(op) = name.parse::<Op>() {
            return Operation::builtin(op);
        }
        match invalid_reason(name) {
            None => Operation(Repr::User(name)),
            Some(_) => Operation(Repr::User(OVERFLOW)),
        }
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
