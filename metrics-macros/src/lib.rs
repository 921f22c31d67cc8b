//! Procedural macros of `keychain-metrics`: `#[instrument_op]`, `#[derive(ErrorType)]`
//! and `#[derive(Operation)]`.
//!
//! This crate is re-exported by `keychain_metrics`; depend on that crate, not on this
//! one. Parsing lives in `args`, code generation in `expand` (with `async_trait` for
//! methods that `#[async_trait]` rewrote first) and `block` (an impl block's methods),
//! the derives in `derive` and `operation`.

mod args;
mod async_trait;
mod block;
mod derive;
mod expand;
mod names;
mod operation;
mod operation_rule;

use proc_macro::TokenStream;
use quote::ToTokens;

/// Times a function and records its outcome as a keychain operation.
///
/// ```ignore
/// #[instrument_op(Generate, backend = "pkcs8")]
/// async fn generate(&self, params: &Params) -> Result<KeyId, KeyError> { /* … */ }
/// ```
///
/// - The first argument is the operation: one of the 15 `keychain_metrics::Op` variants
///   (`Generate`), a string literal for an operation of your own (`"unwrap_key"`, lower
///   snake_case, checked here), or a variant of your enum deriving `Operation`
///   (`KmsOp::WrapKey`).
/// - `backend = "literal"` resolves the series once per call site (the fast path);
///   `backend = expr` evaluates any `AsRef<str>` expression per call.
/// - `metrics = expr` records into that `Metrics` (or `&Metrics`, `Arc<Metrics>`)
///   instead of `Metrics::global()`. With a literal backend, the call site keeps the
///   handles of the first four instances it sees (alive, for the rest of the process),
///   so a call costs about what the global one does; other instances are looked up per
///   call.
/// - `error_type = "label"` labels every error of this function so.
/// - `span` runs each call in a `tracing` span named after the function, at `INFO`, with
///   the fields `operation` and `backend`, and `status` and `error_type` once it ends
///   (the runtime's `tracing` feature; without it, `span` is a compile error saying so).
///   An instance that keeps exemplars then names this span in them.
///
/// `Ok` and non-`Result` returns count as `success`; `Err(e)` as `error`, with `e`'s
/// `ErrorType` label (`error` if it has none); a panic as `error` with `error_type =
/// "panic"`, after which it propagates; an async call dropped after its first poll as
/// `cancelled`. See the `keychain_metrics` documentation for the expansion.
///
/// On an `impl` block, `#[instrument_op(backend = "pkcs11")]` instruments every method,
/// each named after itself (`sign` is the built-in `Sign`, `unwrap_key` an operation of
/// its own). A method's own `#[instrument_op(…)]` replaces the arguments it gives and
/// inherits the rest; `#[instrument_op(skip)]` leaves a method alone.
#[proc_macro_attribute]
pub fn instrument_op(attr: TokenStream, item: TokenStream) -> TokenStream {
    // Errors about a missing argument point at the whole attribute.
    let attr_span = proc_macro2::Span::call_site();
    let attr = proc_macro2::TokenStream::from(attr);
    let item2 = proc_macro2::TokenStream::from(item);
    let result = match syn::parse2::<syn::Item>(item2.clone()) {
        Ok(syn::Item::Fn(function)) => {
            args::Args::parse(attr, attr_span).and_then(|args| expand::instrument(&args, function))
        }
        Ok(syn::Item::Impl(block)) => {
            args::Partial::parse(attr).and_then(|args| block::instrument(&args, block))
        }
        Ok(other) => Err(not_a_function(other)),
        Err(parse_error) => Err(parse_error),
    };
    match result {
        Ok(tokens) => tokens.into(),
        // Re-emit the item untouched beside the error, so the user still sees their
        // own code's errors rather than a cascade caused by a missing item.
        Err(error) => {
            let mut out = error.to_compile_error();
            out.extend(item2);
            out.into()
        }
    }
}

/// A clear error when the attribute sits on something that is not a function.
fn not_a_function(parsed: syn::Item) -> syn::Error {
    let what = match &parsed {
        syn::Item::Struct(_) => "a struct",
        syn::Item::Enum(_) => "an enum",
        syn::Item::Trait(_) => "a trait (put it on the impl block or its methods)",
        syn::Item::Mod(_) => "a module",
        syn::Item::Const(_) | syn::Item::Static(_) => "a constant or static",
        syn::Item::Verbatim(_) => "a function without a body",
        _ => "this item",
    };
    syn::Error::new_spanned(
        parsed
            .to_token_stream()
            .into_iter()
            .take(2)
            .collect::<proc_macro2::TokenStream>(),
        format!("`#[instrument_op]` applies to functions, methods and impl blocks, not to {what}"),
    )
}

/// Implements `From<Enum> for keychain_metrics::Operation` for a service's own
/// operations, so `#[instrument_op(KmsOp::WrapKey, …)]` and
/// `metrics.record_operation(KmsOp::WrapKey, …)` record `operation="wrap_key"`.
///
/// Variants carry no data; each becomes its name in snake_case, or the label given by
/// `#[operation("label")]`, checked here as the attribute checks a literal. A name that
/// spells a built-in (`Sign` → `sign`) means that built-in.
#[proc_macro_derive(Operation, attributes(operation))]
pub fn derive_operation(input: TokenStream) -> TokenStream {
    match syn::parse::<syn::DeriveInput>(input) {
        Ok(input) => operation::derive(input)
            .unwrap_or_else(|e| e.to_compile_error())
            .into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Implements `keychain_metrics::ErrorType` for an enum or struct.
///
/// Variants become their names in snake_case; `#[error_type("label")]` overrides a
/// variant or a struct; `#[error_type(transparent)]` on a one-field variant delegates to
/// the field's own `ErrorType`.
#[proc_macro_derive(ErrorType, attributes(error_type))]
pub fn derive_error_type(input: TokenStream) -> TokenStream {
    match syn::parse::<syn::DeriveInput>(input) {
        Ok(input) => derive::derive(input)
            .unwrap_or_else(|e| e.to_compile_error())
            .into(),
        Err(e) => e.to_compile_error().into(),
    }
}
