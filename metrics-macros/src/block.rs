//! `#[instrument_op(backend = …)]` on an `impl` block: every method instrumented, each
//! named after itself unless its own `#[instrument_op(…)]` says otherwise.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, ImplItem, ImplItemFn, ItemFn, ItemImpl, LitStr, Meta};

use crate::args::{Operation, Partial};
use crate::expand;
use crate::names::builtin_of;
use crate::operation_rule::invalid_reason;

/// Instruments every method of `block` with `args` as the defaults. Errors name the
/// method they are about; all of them are reported, beside the block as written.
pub(crate) fn instrument(args: &Partial, mut block: ItemImpl) -> syn::Result<TokenStream> {
    if let Some(op) = &args.op {
        return Err(syn::Error::new(
            op_span(op),
            "an operation on an impl block would give every method the same name: each \
             method is named after itself; name one with `#[instrument_op(Sign)]` or \
             `#[instrument_op(\"unwrap_key\")]` on the method",
        ));
    }
    if let Some(skip) = &args.skip {
        return Err(syn::Error::new(
            skip.span(),
            "`skip` goes on a method inside the block, to leave that method alone",
        ));
    }
    let mut errors: Option<syn::Error> = None;
    for item in &mut block.items {
        if let ImplItem::Fn(method) = item {
            if let Err(e) = method_of(args, method) {
                match &mut errors {
                    Some(all) => all.combine(e),
                    None => errors = Some(e),
                }
            }
        }
    }
    // With errors, the block is still emitted (the methods' own attributes taken off),
    // so the user sees these errors and their code's own, not a cascade.
    let errors = errors.map(|e| e.to_compile_error());
    Ok(quote!(#errors #block))
}

fn op_span(op: &Operation) -> Span {
    match op {
        Operation::Builtin(ident) => ident.span(),
        Operation::Name(lit) => lit.span(),
        Operation::Path(path) => path.span(),
    }
}

/// Instruments one method in place, unless it says `skip`.
fn method_of(block: &Partial, method: &mut ImplItemFn) -> syn::Result<()> {
    // Its attribute is taken off first, so that even a method in error is emitted
    // without it.
    let (own, span) = match take_attribute(&mut method.attrs)? {
        Some((own, span)) => (own, span),
        None => (Partial::default(), method.sig.ident.span()),
    };
    if own.skip.is_some() {
        return Ok(());
    }
    let mut args = own.inherit(block);
    if args.op.is_none() {
        args.op = Some(operation_of_name(&method.sig.ident)?);
    }
    let args = args.complete(span)?;
    let function = ItemFn {
        attrs: std::mem::take(&mut method.attrs),
        vis: method.vis.clone(),
        modifiers: method.modifiers.clone(),
        sig: method.sig.clone(),
        block: Box::new(method.block.clone()),
    };
    let instrumented: ItemFn = syn::parse2(expand::instrument(&args, function)?)?;
    method.attrs = instrumented.attrs;
    method.modifiers = instrumented.modifiers;
    method.sig = instrumented.sig;
    method.block = *instrumented.block;
    Ok(())
}

/// Takes the method's own `#[instrument_op(…)]` off it, parsed, with its span.
fn take_attribute(attrs: &mut Vec<Attribute>) -> syn::Result<Option<(Partial, Span)>> {
    let is_ours = |a: &Attribute| {
        a.path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "instrument_op")
    };
    let (ours, kept): (Vec<Attribute>, Vec<Attribute>) = attrs.drain(..).partition(is_ours);
    *attrs = kept;
    let mut found = None;
    for attr in ours {
        if found.is_some() {
            return Err(syn::Error::new(
                attr.span(),
                "duplicate `#[instrument_op]` attribute",
            ));
        }
        let args = match &attr.meta {
            Meta::Path(_) => Partial::default(),
            Meta::List(list) => Partial::parse(list.tokens.clone())?,
            Meta::NameValue(nv) => {
                return Err(syn::Error::new(
                    nv.span(),
                    "expected `#[instrument_op(…)]` with arguments in parentheses",
                ))
            }
        };
        found = Some((args, attr.span()));
    }
    Ok(found)
}

/// The operation a method's name gives: a built-in's label value means the built-in;
/// any other valid label value is an operation of its own.
fn operation_of_name(ident: &syn::Ident) -> syn::Result<Operation> {
    let name = ident.unraw().to_string();
    if let Some(op) = builtin_of(&name) {
        return Ok(Operation::Builtin(syn::Ident::new(op, ident.span())));
    }
    match invalid_reason(&name) {
        None => Ok(Operation::Name(LitStr::new(&name, ident.span()))),
        Some(reason) => Err(syn::Error::new(
            ident.span(),
            format!(
                "the method name `{name}` {reason}, so it is not a valid operation label: \
                 name its operation with `#[instrument_op(\"name\")]`, or leave the method \
                 alone with `#[instrument_op(skip)]`"
            ),
        )),
    }
}
