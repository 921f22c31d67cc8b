//! Code generation for `#[instrument_op]`.
//!
//! The body is moved into a closure (sync) or an async block (async), so that `return`
//! and `?` end the inner body, not the function, and the outcome can be recorded on the
//! way out. Every name the expansion introduces has mixed-site hygiene: it cannot clash
//! with the user's.
//!
//! The expansion is transparent to type checking: the closure or block is told the
//! declared return type before its body is checked, so every `return`, `?` and the tail
//! are coerced to it as in the function itself (`&Vec<u8>` to `&[u8]`, `Box<T>` to
//! `Box<dyn Trait>`, closures to `fn` pointers). A closure learns it from `call::<R>`; an
//! async block has no such annotation, so its first return site is a never-taken
//! `return` of type `R`, to which the later ones are coerced.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Ident, ItemFn, ReturnType, Type};

use crate::args::{Args, Backend, Operation};
use crate::async_trait;

fn ident(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// The instrumented function.
pub(crate) fn instrument(args: &Args, mut item: ItemFn) -> syn::Result<TokenStream> {
    if let Some(constness) = &item.sig.constness {
        return Err(syn::Error::new(
            constness.span,
            "`#[instrument_op]` cannot be used on a `const fn`: timing and recording happen at run time",
        ));
    }
    let span = ident("__km_span");
    let target = target(args);
    let target = if args.span {
        // A `tracing` span named after the function (the runtime's `tracing` feature
        // provides the macro; without it, the macro is a compile error saying so).
        let name = syn::LitStr::new(&item.sig.ident.to_string(), item.sig.ident.span());
        quote!(::keychain_metrics::__km_traced!(#target, #name))
    } else {
        target
    };
    let block = &item.block;
    let body = if returns_never(&item.sig.output) {
        // A `-> !` function only ends by unwinding, which the span records when dropped;
        // the body stays the tail, so its `!` type is checked as written.
        let wrapped = if item.sig.asyncness.is_some() {
            let inner = ident("__km_inner");
            quote! {
                let #inner = ::core::pin::pin!(async move #block);
                ::keychain_metrics::__private::Guarded::new(&mut #span, #inner).await
            }
        } else {
            let entered = ident("__km_entered");
            quote! {
                let #entered = #span.enter();
                #block
            }
        };
        quote! {
            #[allow(unused_mut)]
            let mut #span = ::keychain_metrics::__private::Span::start(#target);
            #wrapped
        }
    } else if item.sig.asyncness.is_some() {
        let ret = annotation(&item.sig.output);
        let outcome = outcome(args, &item.sig.output);
        async_body(&span, &target, block, &ret, &outcome)
    } else if let Some((inner, output)) = async_trait::future_of(&item) {
        // An `async_trait` method, already rewritten to `Box::pin(async move { … })`:
        // instrument the future, not its construction.
        let ret = annotation(&output);
        let outcome = outcome(args, &output);
        let instrumented = async_body(&span, &target, &inner.block, &ret, &outcome);
        let replacement: Block = syn::parse2(quote!({ #instrumented }))?;
        async_trait::replace_future_body(&mut item, replacement);
        return Ok(quote!(#item));
    } else {
        let ret = annotation(&item.sig.output);
        let outcome = outcome(args, &item.sig.output);
        let result = ident("__km_ret");
        let entered = ident("__km_entered");
        quote! {
            let mut #span = ::keychain_metrics::__private::Span::start(#target);
            let #result: #ret = {
                let #entered = #span.enter();
                ::keychain_metrics::__private::call::<#ret>(move || #block)
            };
            #span.finish(#outcome);
            #result
        }
    };
    *item.block = syn::parse2(quote!({ #body }))?;
    Ok(quote!(#item))
}

/// The body of an async function or block: time from the first poll to completion,
/// with panics and cancellation recorded by the span.
fn async_body(
    span: &Ident,
    target: &TokenStream,
    block: &Block,
    ret: &Type,
    outcome: &TokenStream,
) -> TokenStream {
    let result = ident("__km_ret");
    let inner = ident("__km_inner");
    let first = ident("__km_first");
    quote! {
        let mut #span = ::keychain_metrics::__private::Span::start(#target);
        let #inner = ::core::pin::pin!(
            ::keychain_metrics::__private::typed_future::<#ret, _>(async move {
                // Never taken: makes `#ret` the block's type before the body's returns.
                #[allow(unreachable_code)]
                if let ::core::option::Option::Some(#first) =
                    ::core::option::Option::None::<#ret>
                {
                    return #first;
                }
                #block
            })
        );
        let #result: #ret = ::keychain_metrics::__private::Guarded::new(&mut #span, #inner).await;
        #span.finish(#outcome);
        #result
    }
}

/// Where to record: a call-site `static` that remembers handles: of the global instance
/// for a literal backend, of the first instances for a literal backend with `metrics =`,
/// of the first (instance, backend) pairs for a backend expression.
fn target(args: &Args) -> TokenStream {
    let op = match &args.op {
        Operation::Builtin(op) => quote_spanned! {op.span()=>
            ::keychain_metrics::Operation::builtin(::keychain_metrics::Op::#op)
        },
        Operation::Name(name) => quote!(::keychain_metrics::Operation::__checked(#name)),
        // A typo in the variant, or an enum without the derive, is an error at the path.
        Operation::Path(path) => quote_spanned! {path.span()=>
            ::core::convert::Into::<::keychain_metrics::Operation>::into(#path)
        },
    };
    let backend = match &args.backend {
        Backend::Literal(lit) => quote!(#lit),
        Backend::Expr(expr) => quote!(&#expr),
    };
    match (&args.metrics, &args.backend) {
        (None, Backend::Literal(lit)) => {
            let site = ident("__KM_SITE");
            quote! {{
                static #site: ::keychain_metrics::__private::CallSite =
                    ::keychain_metrics::__private::CallSite::new(|| #op, #lit);
                #site.handle()
            }}
        }
        (None, Backend::Expr(_)) => {
            let site = ident("__KM_SITE");
            quote! {{
                static #site: ::keychain_metrics::__private::BackendSite =
                    ::keychain_metrics::__private::BackendSite::new(|| #op);
                #site.target(::keychain_metrics::Metrics::global(), #backend)
            }}
        }
        (Some(metrics), Backend::Literal(lit)) => {
            let site = ident("__KM_SITE");
            quote! {{
                static #site: ::keychain_metrics::__private::InstanceSite =
                    ::keychain_metrics::__private::InstanceSite::new(|| #op, #lit);
                #site.target(::core::borrow::Borrow::<::keychain_metrics::Metrics>::borrow(&#metrics))
            }}
        }
        (Some(metrics), Backend::Expr(_)) => {
            let site = ident("__KM_SITE");
            quote! {{
                static #site: ::keychain_metrics::__private::BackendSite =
                    ::keychain_metrics::__private::BackendSite::new(|| #op);
                #site.target(
                    ::core::borrow::Borrow::<::keychain_metrics::Metrics>::borrow(&#metrics),
                    #backend,
                )
            }}
        }
    }
}

/// The outcome of `__km_ret`, and the forced error label if any.
fn outcome(args: &Args, output: &ReturnType) -> TokenStream {
    let forced = match &args.error_type {
        Some(lit) => quote!(::core::option::Option::Some(#lit)),
        None => quote!(::core::option::Option::None),
    };
    let result = ident("__km_ret");
    let error = ident("__km_e");
    let classify = match output {
        // Nothing to classify: `()`, or an opaque type that cannot be a `Result`.
        ReturnType::Default => quote!(::keychain_metrics::__private::Outcome::Success),
        ReturnType::Type(_, ty) if matches!(**ty, Type::ImplTrait(_) | Type::Never(_)) => {
            quote!(::keychain_metrics::__private::Outcome::Success)
        }
        ReturnType::Type(_, ty) if is_unit(ty) => {
            quote!(::keychain_metrics::__private::Outcome::Success)
        }
        // Method resolution picks `ResultKind` for any type that is a `Result` once
        // aliases are resolved, and `OtherKind` for everything else; likewise
        // `LabelKind` for errors that implement `ErrorType`, `DefaultLabel` otherwise.
        ReturnType::Type(..) => quote! {{
            #[allow(unused_imports)]
            use ::keychain_metrics::__private::{
                DefaultLabel as _, LabelKind as _, OtherKind as _, ResultKind as _,
            };
            match (&#result).__km_err() {
                ::core::option::Option::None => ::keychain_metrics::__private::Outcome::Success,
                ::core::option::Option::Some(#error) => {
                    ::keychain_metrics::__private::Outcome::Error((&#error).__km_label())
                }
            }
        }},
    };
    quote!(#classify, #forced)
}

/// Whether the function is declared `-> !`.
fn returns_never(output: &ReturnType) -> bool {
    matches!(output, ReturnType::Type(_, ty) if matches!(**ty, Type::Never(_)))
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

/// The return type as a `let` annotation: `impl Trait` is not allowed there, `_` is.
fn annotation(output: &ReturnType) -> Type {
    struct InferImplTrait;
    impl VisitMut for InferImplTrait {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(_) = ty {
                *ty = syn::parse_quote!(_);
            } else {
                visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    match output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => {
            let mut ty = (**ty).clone();
            InferImplTrait.visit_type_mut(&mut ty);
            ty
        }
    }
}
