//! The attribute is transparent to type checking: every coercion Rust applies at a
//! function's return sites (tail, `return`, `?`) still applies with it, in sync fns,
//! async fns, async fns in traits and `#[async_trait]` methods.
use std::fmt::Debug;

use keychain_metrics::{instrument_op, ErrorType, Metrics};

#[derive(Debug, ErrorType)]
enum KeyError {
    NotFound,
    #[error_type(transparent)]
    Io(std::io::Error),
}

impl From<std::io::Error> for KeyError {
    fn from(e: std::io::Error) -> Self {
        KeyError::Io(e)
    }
}

fn double(x: u8) -> u8 {
    x * 2
}

fn io(fail: bool) -> std::io::Result<()> {
    if fail {
        Err(std::io::ErrorKind::NotFound.into())
    } else {
        Ok(())
    }
}

struct Store {
    name: String,
    data: Vec<u8>,
    label: String,
    metrics: Metrics,
}

impl Store {
    // Deref coercion inside `Ok(..)`, in a `return` and in the tail; `?` converts.
    #[instrument_op(Get, backend = self.name.as_str(), metrics = self.metrics)]
    fn get(&self, fail: bool) -> Result<&[u8], KeyError> {
        io(fail)?;
        if self.data.is_empty() {
            return Ok(&self.data);
        }
        Ok(&self.data)
    }

    // A bare return of a `&String` as `&str`.
    #[instrument_op(Get, backend = "memory", metrics = self.metrics)]
    fn label(&self, early: bool) -> &str {
        if early {
            return &self.label;
        }
        &self.label
    }

    // Inside `Some(..)`.
    #[instrument_op(Get, backend = "memory", metrics = self.metrics)]
    fn find(&self, i: usize) -> Option<&[u8]> {
        if i > 0 {
            return None;
        }
        Some(&self.data)
    }

    // `Box<T>` to `Box<dyn Trait>`.
    #[instrument_op(Generate, backend = "memory", metrics = self.metrics)]
    fn boxed(&self, small: bool) -> Box<dyn Debug> {
        if small {
            return Box::new(1u8);
        }
        Box::new("large")
    }

    // An array to a slice.
    #[instrument_op(List, backend = "memory", metrics = self.metrics)]
    fn slice(&self) -> &'static [u8] {
        &[1, 2, 3]
    }

    // Closures and fn items to `fn` pointers, inside an `Option` too.
    #[instrument_op(Encrypt, backend = "memory", metrics = self.metrics)]
    fn pointer(&self, closure: bool) -> Option<fn(u8) -> u8> {
        if closure {
            return Some(|x| x + 1);
        }
        Some(double)
    }

    // A body of type `!`.
    #[allow(unreachable_code)]
    #[instrument_op(Delete, backend = "memory", metrics = self.metrics)]
    fn unfinished(&self) -> Result<u8, KeyError> {
        todo!()
    }

    // `impl Trait` returns, with `?` and `return`.
    #[instrument_op(List, backend = "memory", metrics = self.metrics)]
    fn ids(&self, fail: bool) -> Result<impl Iterator<Item = &u8> + '_, KeyError> {
        io(fail)?;
        if self.data.is_empty() {
            return Err(KeyError::NotFound);
        }
        Ok(self.data.iter())
    }

    // The same coercions in async fns.
    #[instrument_op(Get, backend = self.name.as_str(), metrics = self.metrics)]
    async fn get_async(&self, fail: bool) -> Result<&[u8], KeyError> {
        io(fail)?;
        if self.data.is_empty() {
            return Ok(&self.data);
        }
        Ok(&self.data)
    }

    #[instrument_op(Generate, backend = "memory", metrics = self.metrics)]
    async fn boxed_async(&self, small: bool) -> Box<dyn Debug + Send> {
        if small {
            return Box::new(1u8);
        }
        Box::new("large")
    }

    #[instrument_op(Encrypt, backend = "memory", metrics = self.metrics)]
    async fn pointer_async(&self, closure: bool) -> Option<fn(u8) -> u8> {
        if closure {
            return Some(|x| x + 1);
        }
        Some(double)
    }

    #[instrument_op(List, backend = "memory", metrics = self.metrics)]
    async fn slice_async(&self) -> &'static [u8] {
        &[1, 2, 3]
    }

    #[allow(unreachable_code)]
    #[instrument_op(Delete, backend = "memory", metrics = self.metrics)]
    async fn unfinished_async(&self) -> Result<u8, KeyError> {
        todo!()
    }

    #[instrument_op(List, backend = "memory", metrics = self.metrics)]
    async fn ids_async(&self) -> Result<impl Iterator<Item = &u8> + '_, KeyError> {
        io(false)?;
        Ok(self.data.iter())
    }
}

// A function that never returns.
#[instrument_op(HealthCheck, backend = "memory")]
fn abort() -> ! {
    panic!("gone")
}

trait Keystore {
    async fn get(&self) -> Result<&[u8], KeyError>;
    async fn pointer(&self) -> Option<fn(u8) -> u8>;
}

impl Keystore for Store {
    #[instrument_op(Get, backend = "trait", metrics = self.metrics)]
    async fn get(&self) -> Result<&[u8], KeyError> {
        io(false)?;
        if self.data.is_empty() {
            return Ok(&self.data);
        }
        Ok(&self.data)
    }

    #[instrument_op(Encrypt, backend = "trait", metrics = self.metrics)]
    async fn pointer(&self) -> Option<fn(u8) -> u8> {
        if self.data.is_empty() {
            return Some(|x| x);
        }
        Some(double)
    }
}

#[async_trait::async_trait]
trait Boxed {
    async fn get(&self) -> Result<&[u8], KeyError>;
    async fn boxed(&self) -> Box<dyn Debug + Send>;
}

#[async_trait::async_trait]
impl Boxed for Store {
    #[instrument_op(Get, backend = "async_trait", metrics = self.metrics)]
    async fn get(&self) -> Result<&[u8], KeyError> {
        io(false)?;
        if self.data.is_empty() {
            return Ok(&self.data);
        }
        Ok(&self.data)
    }

    #[instrument_op(Generate, backend = "async_trait", metrics = self.metrics)]
    async fn boxed(&self) -> Box<dyn Debug + Send> {
        if self.data.is_empty() {
            return Box::new(1u8);
        }
        Box::new("large")
    }
}

/// Polls a future that never waits to completion.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn main() {
    // Two calls below panic on purpose.
    std::panic::set_hook(Box::new(|_| {}));
    let s = Store {
        name: "pkcs8".into(),
        data: vec![7, 8],
        label: "label".into(),
        metrics: Metrics::new(),
    };
    assert_eq!(s.get(false).unwrap(), &[7, 8]);
    assert!(matches!(s.get(true), Err(KeyError::Io(_))));
    assert_eq!(s.label(true), "label");
    assert_eq!(s.find(0), Some(&[7u8, 8][..]));
    assert_eq!(format!("{:?}", s.boxed(true)), "1");
    assert_eq!(s.slice(), &[1, 2, 3]);
    assert_eq!(s.pointer(true).map(|f| f(1)), Some(2));
    assert_eq!(s.pointer(false).map(|f| f(3)), Some(6));
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.unfinished())).is_err());
    assert!(std::panic::catch_unwind(|| abort()).is_err());
    assert_eq!(s.ids(false).map(|i| i.count()).ok(), Some(2));
    assert!(s.ids(true).is_err());
    assert_eq!(block_on(s.get_async(false)).unwrap(), &[7, 8]);
    assert!(block_on(s.get_async(true)).is_err());
    assert_eq!(format!("{:?}", block_on(s.boxed_async(false))), "\"large\"");
    assert_eq!(block_on(s.pointer_async(true)).map(|f| f(1)), Some(2));
    assert_eq!(block_on(s.slice_async()), &[1, 2, 3]);
    assert_eq!(block_on(s.ids_async()).map(|i| i.count()).ok(), Some(2));
    assert_eq!(block_on(Keystore::get(&s)).unwrap(), &[7, 8]);
    assert_eq!(block_on(Keystore::pointer(&s)).map(|f| f(2)), Some(4));
    assert_eq!(block_on(Boxed::get(&s)).unwrap(), &[7, 8]);
    assert_eq!(format!("{:?}", block_on(Boxed::boxed(&s))), "\"large\"");

    // The outcomes are recorded as without coercions.
    let text = s.metrics.encode_text();
    for line in [
        r#"keychain_operations_total{backend="pkcs8",operation="get",status="success"} 2"#,
        r#"keychain_operations_total{backend="pkcs8",operation="get",status="error"} 2"#,
        r#"keychain_errors_total{backend="pkcs8",error_type="not_found",operation="get"} 2"#,
        r#"keychain_operations_total{backend="memory",operation="delete",status="error"} 1"#,
        r#"keychain_errors_total{backend="memory",error_type="panic",operation="delete"} 1"#,
        r#"keychain_operations_total{backend="memory",operation="list",status="error"} 1"#,
        r#"keychain_operations_total{backend="trait",operation="get",status="success"} 1"#,
        r#"keychain_operations_total{backend="async_trait",operation="generate",status="success"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    let global = Metrics::global().encode_text();
    let line = r#"keychain_errors_total{backend="memory",error_type="panic",operation="health_check"} 1"#;
    assert!(global.contains(line), "missing {line} in\n{global}");
}
