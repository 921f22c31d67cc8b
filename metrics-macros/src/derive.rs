//! `#[derive(ErrorType)]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, LitStr};

use crate::names::snake_case;

/// What one `#[error_type(…)]` attribute says.
enum Label {
    Name(LitStr),
    Transparent,
}

fn label(attrs: &[Attribute]) -> syn::Result<Option<Label>> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("error_type")) {
        if found.is_some() {
            return Err(syn::Error::new(
                attr.span(),
                "duplicate `#[error_type]` attribute",
            ));
        }
        found = Some(attr.parse_args_with(|input: syn::parse::ParseStream<'_>| {
            if input.peek(LitStr) {
                let lit: LitStr = input.parse()?;
                if lit.value().is_empty() {
                    return Err(syn::Error::new(
                        lit.span(),
                        "the error type label must not be empty",
                    ));
                }
                Ok(Label::Name(lit))
            } else {
                let ident: syn::Ident = input.parse()?;
                if ident == "transparent" {
                    Ok(Label::Transparent)
                } else {
                    Err(syn::Error::new(
                        ident.span(),
                        "expected `#[error_type(\"label\")]` or `#[error_type(transparent)]`",
                    ))
                }
            }
        })?);
    }
    Ok(found)
}

/// The expression for one variant or struct: its label, or a delegation to its field.
fn arm(
    attrs: &[Attribute],
    fields: &Fields,
    name: &syn::Ident,
    what: &str,
) -> syn::Result<(TokenStream, TokenStream)> {
    match label(attrs)? {
        Some(Label::Name(lit)) => Ok((pattern_ignore(fields), quote!(#lit))),
        Some(Label::Transparent) => {
            if fields.len() != 1 {
                return Err(syn::Error::new(
                    name.span(),
                    format!(
                        "`#[error_type(transparent)]` needs exactly one field to delegate to; {what} `{name}` has {}",
                        fields.len()
                    ),
                ));
            }
            let pattern = match fields {
                Fields::Named(f) => {
                    let field = f.named.first().and_then(|f| f.ident.as_ref());
                    quote!({ #field: __km_inner })
                }
                _ => quote!((__km_inner)),
            };
            Ok((
                pattern,
                quote!(::keychain_metrics::ErrorType::error_type(__km_inner)),
            ))
        }
        None => {
            let label = snake_case(&name.to_string());
            Ok((pattern_ignore(fields), quote!(#label)))
        }
    }
}

fn pattern_ignore(fields: &Fields) -> TokenStream {
    match fields {
        Fields::Named(_) => quote!({ .. }),
        Fields::Unnamed(_) => quote!((..)),
        Fields::Unit => quote!(),
    }
}

pub(crate) fn derive(input: DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let body = match &input.data {
        Data::Enum(data) => {
            if label(&input.attrs)?.is_some() {
                return Err(syn::Error::new(
                    name.span(),
                    "put `#[error_type(…)]` on the variants of an enum, not on the enum",
                ));
            }
            let arms = data
                .variants
                .iter()
                .map(|v| {
                    let (pattern, label) = arm(&v.attrs, &v.fields, &v.ident, "variant")?;
                    let variant = &v.ident;
                    Ok(quote!(Self::#variant #pattern => #label,))
                })
                .collect::<syn::Result<Vec<_>>>()?;
            if arms.is_empty() {
                quote!(match *self {})
            } else {
                quote!(match self { #(#arms)* })
            }
        }
        Data::Struct(data) => {
            let (pattern, label) = arm(&input.attrs, &data.fields, name, "struct")?;
            quote!(match self { Self #pattern => #label })
        }
        Data::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span,
                "`ErrorType` cannot be derived for a union: use an enum or a struct",
            ))
        }
    };
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics ::keychain_metrics::ErrorType for #name #ty_generics #where_clause {
            fn error_type(&self) -> &'static str {
                #body
            }
        }
    })
}
