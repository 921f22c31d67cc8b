//! Procedural macros of `keychain-metrics`: `#[instrument_op]` and `#[derive(ErrorType)]`.
//!
//! This crate is re-exported by `keychain_metrics`; depend on that crate, not on this
//! one. Parsing lives in `args`, code generation in `expand` (with `async_trait` for
//! methods that `#[async_trait]` rewrote first), the derive in `derive`.

mod args;
mod async_trait;
mod derive;
mod expand;
mod names;

use proc_macro::TokenStream;
use quote::ToTokens;

/// Times a function and records its outcome as a keychain operation.
///
/// ```ignore
/// #[instrument_op(Generate, backend = "pkcs8")]
/// async fn generate(&self, params: &Params) -> Result<KeyId, KeyError> { /* … */ }
/// ```
///
/// - The first argument is the operation: one of the 15 `keychain_metrics::Op` variants.
/// - `backend = "literal"` resolves the series once per call site (the fast path);
///   `backend = expr` evaluates any `AsRef<str>` expression per call.
/// - `metrics = expr` records into that `Metrics` (or `&Metrics`, `Arc<Metrics>`)
///   instead of `Metrics::global()`.
/// - `error_type = "label"` labels every error of this function so.
///
/// `Ok` and non-`Result` returns count as `success`; `Err(e)` as `error`, with `e`'s
/// `ErrorType` label (`error` if it has none); a panic as `error` with `error_type =
/// "panic"`, after which it propagates; an async call dropped after its first poll as
/// `cancelled`. See the `keychain_metrics` documentation for the expansion.
#[proc_macro_attribute]
pub fn instrument_op(attr: TokenStream, item: TokenStream) -> TokenStream {
    // Errors about a missing argument point at the whole attribute.
    let attr_span = proc_macro2::Span::call_site();
    let item2 = proc_macro2::TokenStream::from(item.clone());
    let result = args::Args::parse(attr.into(), attr_span).and_then(|args| {
        match syn::parse2::<syn::ItemFn>(item2.clone()) {
            Ok(function) => expand::instrument(&args, function),
            Err(parse_error) => Err(not_a_function(item2.clone()).unwrap_or(parse_error)),
        }
    });
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
fn not_a_function(item: proc_macro2::TokenStream) -> Option<syn::Error> {
    let parsed = syn::parse2::<syn::Item>(item).ok()?;
    let what = match &parsed {
        syn::Item::Struct(_) => "a struct",
        syn::Item::Enum(_) => "an enum",
        syn::Item::Impl(_) => "an impl block (put it on the methods)",
        syn::Item::Trait(_) => "a trait",
        syn::Item::Mod(_) => "a module",
        syn::Item::Const(_) | syn::Item::Static(_) => "a constant or static",
        syn::Item::Verbatim(_) => "a function without a body",
        _ => "this item",
    };
    Some(syn::Error::new_spanned(
        parsed
            .to_token_stream()
            .into_iter()
            .take(2)
            .collect::<proc_macro2::TokenStream>(),
        format!("`#[instrument_op]` applies to functions and methods, not to {what}"),
    ))
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
