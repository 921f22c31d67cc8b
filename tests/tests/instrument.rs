//! `#[instrument_op]` on every supported shape records the right values.
//! Each test records into its own instance (`metrics = …`), so tests run in parallel.

mod common;

use std::sync::Arc;
use std::time::Duration;

use keychain_metrics::{instrument_op, ErrorType, Metrics};

/// `keychain_operations_total` for one operation, backend and status (0 if absent).
fn ops(m: &Metrics, op: &str, backend: &str, status: &str) -> f64 {
    common::value(
        &m.encode_text(),
        "keychain_operations_total",
        &[("operation", op), ("backend", backend), ("status", status)],
    )
    .unwrap_or(0.0)
}

fn errors(m: &Metrics, op: &str, error_type: &str) -> f64 {
    common::value(
        &m.encode_text(),
        "keychain_errors_total",
        &[("operation", op), ("error_type", error_type)],
    )
    .unwrap_or(0.0)
}

fn count(m: &Metrics, op: &str) -> f64 {
    common::value(
        &m.encode_text(),
        "keychain_operation_duration_seconds_count",
        &[("operation", op)],
    )
    .unwrap_or(0.0)
}

#[derive(Debug, ErrorType)]
enum KeyError {
    KeyNotFound,
    #[error_type("bad_params")]
    InvalidParams(#[allow(dead_code)] String),
    #[error_type(transparent)]
    Io(std::io::Error),
}

/// An error without `ErrorType`.
#[derive(Debug)]
struct Opaque;

struct Store {
    metrics: Metrics,
    name: String,
    keys: Vec<String>,
}

impl Store {
    fn new() -> Self {
        Store {
            metrics: Metrics::new(),
            name: "pkcs8".into(),
            keys: vec!["a".into(), "b".into()],
        }
    }

    #[instrument_op(Get, backend = "pkcs8", metrics = self.metrics)]
    fn get(&self, i: usize) -> Result<&str, KeyError> {
        self.keys
            .get(i)
            .map(String::as_str)
            .ok_or(KeyError::KeyNotFound)
    }

    #[instrument_op(Store, backend = "pkcs8", metrics = self.metrics)]
    fn store(&mut self, key: &str) -> Result<usize, KeyError> {
        if key.is_empty() {
            return Err(KeyError::InvalidParams("empty".into()));
        }
        self.keys.push(key.into());
        Ok(self.keys.len())
    }

    #[instrument_op(List, backend = self.name.as_str(), metrics = self.metrics)]
    fn first_mut(&mut self) -> Option<&mut String> {
        self.keys.first_mut()
    }

    #[instrument_op(Backup, backend = "pkcs8", metrics = self.metrics.clone())]
    fn into_keys(self) -> Vec<String> {
        self.keys
    }

    #[instrument_op(Verify, backend = "pkcs8", metrics = self.metrics)]
    fn verify_arc(self: Arc<Self>, ok: bool) -> Result<(), Opaque> {
        if ok {
            Ok(())
        } else {
            Err(Opaque)
        }
    }

    #[instrument_op(Sign, backend = "pkcs8", metrics = self.metrics)]
    async fn sign(&self, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        tokio::task::yield_now().await;
        if data.is_empty() {
            return Err(KeyError::KeyNotFound);
        }
        Ok(data.iter().rev().copied().collect())
    }

    #[instrument_op(Rotate, backend = "pkcs8", metrics = self.metrics)]
    async fn rotate(&mut self) -> std::io::Result<usize> {
        tokio::task::yield_now().await;
        let n: usize = "x"
            .parse()
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
        Ok(n)
    }
}

#[test]
fn sync_method_with_ref_self_returning_a_borrow() {
    let s = Store::new();
    assert_eq!(s.get(1).unwrap(), "b");
    assert!(matches!(s.get(9), Err(KeyError::KeyNotFound)));
    assert_eq!(ops(&s.metrics, "get", "pkcs8", "success"), 1.0);
    assert_eq!(ops(&s.metrics, "get", "pkcs8", "error"), 1.0);
    assert_eq!(errors(&s.metrics, "get", "key_not_found"), 1.0);
    assert_eq!(count(&s.metrics, "get"), 2.0);
}

#[test]
fn mut_self_early_return_and_custom_label() {
    let mut s = Store::new();
    assert_eq!(s.store("c").unwrap(), 3);
    assert!(s.store("").is_err());
    assert_eq!(ops(&s.metrics, "store", "pkcs8", "success"), 1.0);
    assert_eq!(errors(&s.metrics, "store", "bad_params"), 1.0);
}

#[test]
fn mut_self_returning_a_mutable_borrow_with_an_expression_backend() {
    let mut s = Store::new();
    s.first_mut().unwrap().push('!');
    assert_eq!(s.keys[0], "a!");
    // Option is not a Result: success.
    assert_eq!(ops(&s.metrics, "list", "pkcs8", "success"), 1.0);
}

#[test]
fn self_by_value_and_arc_self() {
    let s = Store::new();
    let m = s.metrics.clone();
    assert_eq!(s.into_keys().len(), 2);
    assert_eq!(ops(&m, "backup", "pkcs8", "success"), 1.0);

    let s = Arc::new(Store::new());
    let m = s.metrics.clone();
    Arc::clone(&s).verify_arc(true).unwrap();
    Arc::clone(&s).verify_arc(false).unwrap_err();
    assert_eq!(ops(&m, "verify", "pkcs8", "success"), 1.0);
    // An error without ErrorType is labelled `error`.
    assert_eq!(errors(&m, "verify", "error"), 1.0);
}

#[tokio::test]
async fn async_method_success_error_and_question_mark() {
    let mut s = Store::new();
    assert_eq!(s.sign(b"ab").await.unwrap(), b"ba");
    assert!(s.sign(b"").await.is_err());
    assert!(s.rotate().await.is_err());
    assert_eq!(ops(&s.metrics, "sign", "pkcs8", "success"), 1.0);
    assert_eq!(errors(&s.metrics, "sign", "key_not_found"), 1.0);
    // io::Result alias, io::Error by kind.
    assert_eq!(ops(&s.metrics, "rotate", "pkcs8", "error"), 1.0);
    assert_eq!(errors(&s.metrics, "rotate", "invalid_data"), 1.0);
}

// ---- free functions: generics, lifetimes, impl Trait, aliases, unsafe ----

type KeyResult<T> = Result<T, KeyError>;

#[instrument_op(Export, backend = "memory", metrics = m)]
fn longest<'a, T>(m: &Metrics, a: &'a [T], b: &'a [T]) -> KeyResult<&'a [T]>
where
    T: PartialEq + std::fmt::Debug,
{
    if a.is_empty() && b.is_empty() {
        return Err(KeyError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(if a.len() >= b.len() { a } else { b })
}

#[instrument_op(Import, backend = "memory", metrics = m)]
fn import(m: &Metrics, data: impl AsRef<[u8]>) -> Result<impl Iterator<Item = u8>, KeyError> {
    let bytes = data.as_ref().to_vec();
    if bytes.is_empty() {
        Err(KeyError::KeyNotFound)?;
    }
    Ok(bytes.into_iter())
}

#[instrument_op(Encrypt, backend = "memory", metrics = m)]
fn counter(m: &Metrics) -> impl Fn() -> u32 {
    || 7
}

#[instrument_op(Decrypt, backend = "memory", metrics = m)]
fn with_anyhow(m: &Metrics, fail: bool) -> anyhow::Result<u8> {
    anyhow::ensure!(!fail, "no");
    Ok(1)
}

#[instrument_op(Delete, backend = "memory", metrics = m)]
unsafe fn read_raw(m: &Metrics, p: *const u8) -> u8 {
    // SAFETY: the caller passes a valid pointer.
    unsafe { *p }
}

#[instrument_op(HealthCheck, backend = "memory", metrics = m)]
fn unit(m: &Metrics) {}

#[test]
fn generic_fn_with_lifetimes_and_where_clause_through_an_alias() {
    let m = Metrics::new();
    assert_eq!(longest(&m, &[1, 2], &[3]).unwrap(), &[1, 2]);
    assert!(longest::<u8>(&m, &[], &[]).is_err());
    assert_eq!(ops(&m, "export", "memory", "success"), 1.0);
    // The transparent variant delegates to io::Error's kind.
    assert_eq!(errors(&m, "export", "unexpected_eof"), 1.0);
}

#[test]
fn impl_trait_arguments_and_returns() {
    let m = Metrics::new();
    assert_eq!(import(&m, [1u8, 2]).unwrap().sum::<u8>(), 3);
    assert!(import(&m, Vec::new()).is_err());
    assert_eq!(counter(&m)(), 7);
    assert_eq!(ops(&m, "import", "memory", "success"), 1.0);
    assert_eq!(errors(&m, "import", "key_not_found"), 1.0);
    assert_eq!(ops(&m, "encrypt", "memory", "success"), 1.0);
}

#[test]
fn anyhow_result_counts_errors() {
    let m = Metrics::new();
    with_anyhow(&m, false).unwrap();
    with_anyhow(&m, true).unwrap_err();
    assert_eq!(ops(&m, "decrypt", "memory", "success"), 1.0);
    assert_eq!(errors(&m, "decrypt", "error"), 1.0);
}

#[test]
fn unsafe_fn_and_unit_return() {
    let m = Metrics::new();
    let x = 42u8;
    // SAFETY: a valid pointer to a live u8.
    assert_eq!(unsafe { read_raw(&m, &x) }, 42);
    unit(&m);
    assert_eq!(ops(&m, "delete", "memory", "success"), 1.0);
    assert_eq!(ops(&m, "health_check", "memory", "success"), 1.0);
}

// ---- traits: native async fn and async_trait ----

trait Signer {
    async fn sign(&self, data: u8) -> Result<u8, KeyError>;
}

struct Tpm(Metrics);

impl Signer for Tpm {
    #[instrument_op(Sign, backend = "tpm2", metrics = self.0)]
    async fn sign(&self, data: u8) -> Result<u8, KeyError> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        data.checked_add(1).ok_or(KeyError::KeyNotFound)
    }
}

#[async_trait::async_trait]
trait DynSigner: Send + Sync {
    async fn sign(&self, data: u8) -> Result<u8, KeyError>;
}

struct Kms(Metrics);

#[async_trait::async_trait]
impl DynSigner for Kms {
    #[instrument_op(Sign, backend = "awskms", metrics = self.0)]
    async fn sign(&self, data: u8) -> Result<u8, KeyError> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        data.checked_add(1).ok_or(KeyError::KeyNotFound)
    }
}

fn duration_sum(m: &Metrics, backend: &str) -> f64 {
    common::value(
        &m.encode_text(),
        "keychain_operation_duration_seconds_sum",
        &[("backend", backend)],
    )
    .unwrap()
}

#[tokio::test]
async fn native_async_fn_in_trait_times_the_whole_call() {
    let t = Tpm(Metrics::new());
    assert_eq!(t.sign(1).await.unwrap(), 2);
    assert!(t.sign(255).await.is_err());
    assert_eq!(ops(&t.0, "sign", "tpm2", "success"), 1.0);
    assert_eq!(errors(&t.0, "sign", "key_not_found"), 1.0);
    assert!(duration_sum(&t.0, "tpm2") >= 0.040);
}

#[tokio::test]
async fn async_trait_method_times_the_future_not_its_construction() {
    let metrics = Metrics::new();
    let k: Box<dyn DynSigner> = Box::new(Kms(metrics.clone()));
    let future = k.sign(1);
    // Not timed: the future is built but not yet polled.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(future.await.unwrap(), 2);
    assert!(k.sign(255).await.is_err());
    assert_eq!(ops(&metrics, "sign", "awskms", "success"), 1.0);
    assert_eq!(errors(&metrics, "sign", "key_not_found"), 1.0);
    // Two calls of 20 ms each; had construction been timed, the first alone is 320 ms.
    let sum = duration_sum(&metrics, "awskms");
    assert!((0.040..0.250).contains(&sum), "{sum}");
}

// ---- outcomes: cancellation, never polled, panics ----

struct Pending(bool);

impl std::future::Future for Pending {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

#[instrument_op(Generate, backend = "pkcs11", metrics = m)]
async fn slow(m: &Metrics) -> Result<u8, KeyError> {
    Pending(false).await;
    Ok(1)
}

fn poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    f.poll(&mut cx)
}

#[test]
fn a_future_dropped_after_its_first_poll_is_cancelled() {
    let m = Metrics::new();
    let mut f = Box::pin(slow(&m));
    assert!(poll_once(f.as_mut()).is_pending());
    drop(f);
    assert_eq!(ops(&m, "generate", "pkcs11", "cancelled"), 1.0);
    assert_eq!(ops(&m, "generate", "pkcs11", "error"), 0.0);
    assert_eq!(count(&m, "generate"), 1.0);
    assert!(!m.encode_text().contains("keychain_errors_total"));
}

#[test]
fn a_future_never_polled_records_nothing() {
    let m = Metrics::new();
    drop(slow(&m));
    assert_eq!(count(&m, "generate"), 0.0);
}

#[test]
fn a_future_polled_to_completion_is_a_success() {
    let m = Metrics::new();
    let mut f = Box::pin(slow(&m));
    assert!(poll_once(f.as_mut()).is_pending());
    assert!(matches!(
        poll_once(f.as_mut()),
        std::task::Poll::Ready(Ok(1))
    ));
    drop(f);
    assert_eq!(ops(&m, "generate", "pkcs11", "success"), 1.0);
    assert_eq!(ops(&m, "generate", "pkcs11", "cancelled"), 0.0);
}

#[instrument_op(Restore, backend = "memory", metrics = m)]
fn boom(m: &Metrics, panic: bool) -> Result<u8, KeyError> {
    if panic {
        panic!("restore failed");
    }
    Ok(0)
}

#[instrument_op(Restore, backend = "async", metrics = m)]
async fn async_boom(m: &Metrics) -> u8 {
    tokio::task::yield_now().await;
    panic!("async restore failed");
}

#[test]
fn a_panic_is_recorded_and_propagates() {
    let m = Metrics::new();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| boom(&m, true)));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"restore failed"));
    assert_eq!(ops(&m, "restore", "memory", "error"), 1.0);
    assert_eq!(errors(&m, "restore", "panic"), 1.0);
}

#[tokio::test]
async fn an_async_panic_is_recorded_as_panic_not_cancelled() {
    let m = Metrics::new();
    let task = tokio::spawn({
        let m = m.clone();
        async move { async_boom(&m).await }
    });
    let err = task.await.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(ops(&m, "restore", "async", "error"), 1.0);
    assert_eq!(ops(&m, "restore", "async", "cancelled"), 0.0);
    assert_eq!(errors(&m, "restore", "panic"), 1.0);
}

// ---- arguments ----

#[instrument_op(Sign, backend = "pkcs8", metrics = m, error_type = "sign_failed")]
fn forced(m: &Metrics) -> Result<(), KeyError> {
    Err(KeyError::KeyNotFound)
}

#[instrument_op(Sign, backend = which, metrics = m)]
fn dynamic(m: &Metrics, which: &str) -> u8 {
    0
}

#[test]
fn forced_error_type_and_per_call_backend() {
    let m = Metrics::new();
    forced(&m).unwrap_err();
    assert_eq!(errors(&m, "sign", "sign_failed"), 1.0);
    assert_eq!(errors(&m, "sign", "key_not_found"), 0.0);
    dynamic(&m, "a");
    dynamic(&m, "b");
    dynamic(&m, "b");
    assert_eq!(ops(&m, "sign", "a", "success"), 1.0);
    assert_eq!(ops(&m, "sign", "b", "success"), 2.0);
}

#[instrument_op(Encrypt, backend = which, metrics = m)]
fn remembered(m: &Metrics, which: &str) -> Result<(), String> {
    if which.ends_with('!') {
        Err("failed".into())
    } else {
        Ok(())
    }
}

/// A site keeps the first eight (instance, backend) pairs it sees; later pairs, another
/// instance with a known backend, and a backend past the label length all record
/// exactly as through a lookup.
#[test]
fn a_backend_expression_site_remembers_pairs_and_looks_up_the_rest() {
    let (first, second) = (Metrics::new(), Metrics::new());
    let long = "b".repeat(300);
    let backends: Vec<String> = (0..12).map(|i| format!("hsm{i}")).collect();
    for round in 0..3 {
        for b in &backends {
            remembered(&first, b).unwrap();
        }
        remembered(&second, "hsm0").unwrap();
        remembered(&first, &long).unwrap();
        remembered(&first, "hsm1!").unwrap_err();
        for b in &backends {
            assert_eq!(
                ops(&first, "encrypt", b, "success"),
                f64::from(round + 1),
                "{b}"
            );
        }
        assert_eq!(
            ops(&second, "encrypt", "hsm0", "success"),
            f64::from(round + 1)
        );
        assert_eq!(ops(&second, "encrypt", "hsm1", "success"), 0.0);
        assert_eq!(
            ops(&first, "encrypt", "other", "success"),
            f64::from(round + 1)
        );
        assert_eq!(
            ops(&first, "encrypt", "hsm1!", "error"),
            f64::from(round + 1)
        );
    }
}

#[test]
fn disabled_instruments_record_nothing() {
    let m = Metrics::new();
    m.disable();
    boom(&m, false).unwrap();
    drop(slow(&m));
    assert_eq!(count(&m, "restore"), 0.0);
}

#[test]
fn every_operation_is_accepted() {
    macro_rules! each {
        ($($op:ident => $label:literal),*) => {$({
            #[instrument_op($op, backend = "all", metrics = m)]
            fn f(m: &Metrics) {}
            let m = Metrics::new();
            f(&m);
            assert_eq!(ops(&m, $label, "all", "success"), 1.0, $label);
        })*};
    }
    each!(Generate => "generate", Store => "store", Get => "get", Delete => "delete",
        List => "list", Sign => "sign", Verify => "verify", Encrypt => "encrypt",
        Decrypt => "decrypt", Export => "export", Import => "import", Rotate => "rotate",
        Backup => "backup", Restore => "restore", HealthCheck => "health_check");
}

// ---- one call site, many instances ----

#[instrument_op(Decrypt, backend = "memory", metrics = m)]
fn decrypt(m: &Metrics, fail: bool) -> Result<(), KeyError> {
    if fail {
        Err(KeyError::KeyNotFound)
    } else {
        Ok(())
    }
}

#[test]
fn one_call_site_keeps_every_instance_apart() {
    // The site remembers the first few instances it sees and looks the others up:
    // either way each call lands in the instance it was given, and nowhere else.
    let instances: Vec<Metrics> = (0..7).map(|_| Metrics::new()).collect();
    for round in 1..=3 {
        for (i, m) in instances.iter().enumerate() {
            for _ in 0..=i {
                decrypt(m, false).unwrap();
            }
            decrypt(m, true).unwrap_err();
        }
        for (i, m) in instances.iter().enumerate() {
            assert_eq!(
                count(m, "decrypt"),
                (round * (i + 2)) as f64,
                "instance {i}"
            );
            assert_eq!(errors(m, "decrypt", "key_not_found"), round as f64);
        }
    }
    // A clone is the same instance.
    let clone = instances[6].clone();
    decrypt(&clone, false).unwrap();
    assert_eq!(count(&instances[6], "decrypt"), 25.0);
}
