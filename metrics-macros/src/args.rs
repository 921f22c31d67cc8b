//! Parsing `#[instrument_op(Op, backend = …, metrics = …, error_type = "…")]`.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Token};

use crate::names::{suggest, OPS};

/// Where the backend label comes from.
pub(crate) enum Backend {
    /// A string literal: resolved once per call site.
    Literal(LitStr),
    /// Any other expression: evaluated per call.
    Expr(Expr),
}

pub(crate) struct Args {
    pub(crate) op: Ident,
    pub(crate) backend: Backend,
    pub(crate) metrics: Option<Expr>,
    pub(crate) error_type: Option<LitStr>,
}

const USAGE: &str = "expected `#[instrument_op(Operation, backend = \"name\")]`, e.g. \
                     `#[instrument_op(Generate, backend = \"pkcs8\")]`";

impl Args {
    /// Parses the attribute's tokens; `attr_span` points at the whole attribute for
    /// errors about what is missing.
    pub(crate) fn parse(tokens: TokenStream, attr_span: Span) -> syn::Result<Args> {
        let raw: RawArgs = syn::parse2(tokens)?;
        let op = raw
            .op
            .ok_or_else(|| syn::Error::new(attr_span, format!("missing operation: {USAGE}")))?;
        if !OPS.contains(&op.to_string().as_str()) {
            let name = op.to_string();
            let hint = match suggest(&name, &OPS) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("expected one of {}", OPS.join(", ")),
            };
            return Err(syn::Error::new(
                op.span(),
                format!("unknown operation `{name}`: {hint}"),
            ));
        }
        let mut backend = None;
        let mut metrics = None;
        let mut error_type = None;
        for (key, value) in raw.pairs {
            let name = key.to_string();
            let duplicate = || syn::Error::new(key.span(), format!("duplicate argument `{name}`"));
            match name.as_str() {
                "backend" => {
                    if backend.is_some() {
                        return Err(duplicate());
                    }
                    backend = Some(match value {
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(s), ..
                        }) => Backend::Literal(s),
                        other => Backend::Expr(other),
                    });
                }
                "metrics" => {
                    if metrics.is_some() {
                        return Err(duplicate());
                    }
                    metrics = Some(value);
                }
                "error_type" => {
                    if error_type.is_some() {
                        return Err(duplicate());
                    }
                    match value {
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(s), ..
                        }) => error_type = Some(s),
                        other => return Err(syn::Error::new(
                            other.span(),
                            "`error_type` takes a string literal, e.g. `error_type = \"timeout\"`",
                        )),
                    }
                }
                _ => {
                    let hint = match suggest(&name, &["backend", "metrics", "error_type"]) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "expected `backend`, `metrics` or `error_type`".into(),
                    };
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown argument `{name}`: {hint}"),
                    ));
                }
            }
        }
        let backend = backend
            .ok_or_else(|| syn::Error::new(attr_span, format!("missing `backend = …`: {USAGE}")))?;
        Ok(Args {
            op,
            backend,
            metrics,
            error_type,
        })
    }
}

/// The attribute's syntax before validation.
struct RawArgs {
    op: Option<Ident>,
    pairs: Vec<(Ident, Expr)>,
}

impl Parse for RawArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut op = None;
        if input.peek(Ident) && !input.peek2(Token![=]) {
            op = Some(input.parse::<Ident>()?);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        let mut pairs = Vec::new();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let value: Expr = input.parse()?;
            pairs.push((key, value));
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(RawArgs { op, pairs })
    }
}
