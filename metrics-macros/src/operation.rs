//! `#[derive(Operation)]`: a service's operations as an enum, each variant one
//! `operation` label value.

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::args::{operation_of_literal, Operation};
use crate::names::snake_case;

/// `impl From<Enum> for keychain_metrics::Operation`, each name checked here.
pub(crate) fn derive(input: DeriveInput) -> syn::Result<TokenStream> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(
            input.ident.span(),
            "`#[derive(Operation)]` applies to enums whose variants are operations",
        ));
    };
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut arms = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            return Err(syn::Error::new(
                variant.fields.span(),
                "an operation variant carries no data: write it without fields",
            ));
        }
        let label = match label(&variant.attrs)? {
            Some(lit) => lit,
            None => LitStr::new(
                &snake_case(&variant.ident.to_string()),
                variant.ident.span(),
            ),
        };
        let value = match operation_of_literal(label)? {
            Operation::Builtin(op) => quote! {
                ::keychain_metrics::Operation::builtin(::keychain_metrics::Op::#op)
            },
            Operation::Name(lit) => quote!(::keychain_metrics::Operation::__checked(#lit)),
            Operation::Path(_) => unreachable!("a literal is never a path"),
        };
        let ident = &variant.ident;
        arms.push(quote!(#name::#ident => #value));
    }
    Ok(quote! {
        impl #impl_generics ::core::convert::From<#name #ty_generics>
            for ::keychain_metrics::Operation #where_clause
        {
            fn from(op: #name #ty_generics) -> Self {
                match op { #(#arms,)* }
            }
        }

        impl #impl_generics ::core::convert::From<&#name #ty_generics>
            for ::keychain_metrics::Operation #where_clause
        {
            fn from(op: &#name #ty_generics) -> Self {
                match op { #(#arms,)* }
            }
        }
    })
}

/// The `#[operation("label")]` override of a variant, if any.
fn label(attrs: &[syn::Attribute]) -> syn::Result<Option<LitStr>> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("operation")) {
        if found.is_some() {
            return Err(syn::Error::new(
                attr.span(),
                "duplicate `#[operation]` attribute",
            ));
        }
        found = Some(attr.parse_args::<LitStr>().map_err(|_| {
            syn::Error::new(
                attr.span(),
                "expected `#[operation(\"label\")]`, e.g. `#[operation(\"rng\")]`",
            )
        })?);
    }
    Ok(found)
}
