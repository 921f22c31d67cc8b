//! Shapes that must compile: generic bounds, lifetimes, impl Trait, trait methods.
use keychain_metrics::{instrument_op, ErrorType, Metrics};

#[derive(Debug, ErrorType)]
#[error_type("whole")]
struct WholeError;

#[derive(Debug, ErrorType)]
enum Generic<E: std::fmt::Debug> {
    #[error_type("wrapped")]
    Wrapped(E),
}

trait Keystore {
    fn name(&self) -> &str;
    async fn get<'a>(&'a self, id: &'a str) -> Result<&'a str, WholeError>;
}

struct Mem(Metrics);

impl Keystore for Mem {
    fn name(&self) -> &str {
        "memory"
    }

    #[instrument_op(Get, backend = self.name(), metrics = &self.0)]
    async fn get<'a>(&'a self, id: &'a str) -> Result<&'a str, WholeError> {
        Ok(id)
    }
}

#[instrument_op(List, backend = "memory")]
fn list<'a, I>(items: I) -> impl Iterator<Item = &'a str>
where
    I: IntoIterator<Item = &'a str>,
    I::IntoIter: 'a,
{
    items.into_iter()
}

#[instrument_op(Verify, backend = "memory")]
fn generic_error<E: std::fmt::Debug>(e: E) -> Result<(), Generic<E>> {
    Err(Generic::Wrapped(e))
}

fn main() {
    let _ = list(["a"]).count();
    let _ = generic_error(1);
    let _ = Mem(Metrics::new());
}
