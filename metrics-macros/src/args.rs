//! Parsing `#[instrument_op(Op, backend = …, metrics = …, error_type = "…", span)]`, on a
//! function, on an `impl` block, or on a method inside one (where `skip` may stand alone
//! and missing arguments are inherited from the block).

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Path, Token};

use crate::names::{builtin_of, snake_case, suggest, OPS};
use crate::operation_rule::invalid_reason;

/// Where the backend label comes from.
#[derive(Clone)]
pub(crate) enum Backend {
    /// A string literal: resolved once per call site.
    Literal(LitStr),
    /// Any other expression: evaluated per call.
    Expr(Expr),
}

/// The operation, as the attribute names it.
#[derive(Clone)]
pub(crate) enum Operation {
    /// One of the 15 `Op` variants, by its Rust name.
    Builtin(Ident),
    /// A service's own operation: a checked label value that is not a built-in's.
    Name(LitStr),
    /// A variant of the service's own enum that derives `Operation`.
    Path(Path),
}

/// A complete set of arguments for one function.
pub(crate) struct Args {
    pub(crate) op: Operation,
    pub(crate) backend: Backend,
    pub(crate) metrics: Option<Expr>,
    pub(crate) error_type: Option<LitStr>,
    /// `span`: open a `tracing` span per call.
    pub(crate) span: bool,
}

/// What one attribute says; on a block or a method in it, any argument may be missing.
#[derive(Clone, Default)]
pub(crate) struct Partial {
    pub(crate) op: Option<Operation>,
    /// `skip`, where it was written.
    pub(crate) skip: Option<Ident>,
    pub(crate) backend: Option<Backend>,
    pub(crate) metrics: Option<Expr>,
    pub(crate) error_type: Option<LitStr>,
    /// `span`, where it was written.
    pub(crate) span: Option<Ident>,
}

const USAGE: &str = "expected `#[instrument_op(Operation, backend = \"name\")]`, e.g. \
                     `#[instrument_op(Generate, backend = \"pkcs8\")]`";

impl Args {
    /// Parses the attribute of a function; `attr_span` points at the whole attribute for
    /// errors about what is missing.
    pub(crate) fn parse(tokens: TokenStream, attr_span: Span) -> syn::Result<Args> {
        let partial = Partial::parse(tokens)?;
        if let Some(skip) = &partial.skip {
            return Err(syn::Error::new(
                skip.span(),
                "`skip` leaves a method of an instrumented impl block alone; on a function, \
                 remove the attribute instead",
            ));
        }
        partial.complete(attr_span)
    }
}

impl Partial {
    pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Partial> {
        let raw: RawArgs = syn::parse2(tokens)?;
        let mut args = Partial::default();
        match raw.op {
            None => {}
            Some(RawOp::Skip(ident)) => args.skip = Some(ident),
            Some(RawOp::Path(path)) => args.op = Some(operation_of_path(path)?),
            Some(RawOp::Literal(lit)) => args.op = Some(operation_of_literal(lit)?),
        }
        if args.skip.is_some() {
            if let Some((key, _)) = raw.pairs.first() {
                return Err(syn::Error::new(
                    key.span(),
                    "`skip` stands alone: a skipped method records nothing, so it takes no \
                     other argument",
                ));
            }
        }
        for (key, value) in raw.pairs {
            let name = key.to_string();
            let duplicate = || syn::Error::new(key.span(), format!("duplicate argument `{name}`"));
            let value =
                match (name.as_str(), value) {
                    ("span", None) => {
                        if args.span.is_some() {
                            return Err(duplicate());
                        }
                        args.span = Some(key);
                        continue;
                    }
                    ("span", Some(value)) => return Err(syn::Error::new(
                        value.span(),
                        "`span` stands alone: `#[instrument_op(Sign, backend = \"pkcs11\", span)]`",
                    )),
                    (_, Some(value)) => value,
                    (_, None) => {
                        return Err(syn::Error::new(
                            key.span(),
                            format!("expected `{name} = …`"),
                        ))
                    }
                };
            match name.as_str() {
                "backend" => {
                    if args.backend.is_some() {
                        return Err(duplicate());
                    }
                    args.backend = Some(match value {
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(s), ..
                        }) => Backend::Literal(s),
                        other => Backend::Expr(other),
                    });
                }
                "metrics" => {
                    if args.metrics.is_some() {
                        return Err(duplicate());
                    }
                    args.metrics = Some(value);
                }
                "error_type" => {
                    if args.error_type.is_some() {
                        return Err(duplicate());
                    }
                    match value {
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(s), ..
                        }) => args.error_type = Some(s),
                        other => return Err(syn::Error::new(
                            other.span(),
                            "`error_type` takes a string literal, e.g. `error_type = \"timeout\"`",
                        )),
                    }
                }
                _ => {
                    let hint = match suggest(&name, &["backend", "metrics", "error_type", "span"]) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "expected `backend`, `metrics`, `error_type` or `span`".into(),
                    };
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown argument `{name}`: {hint}"),
                    ));
                }
            }
        }
        Ok(args)
    }

    /// These arguments, with those not given taken from `block`'s.
    pub(crate) fn inherit(self, block: &Partial) -> Partial {
        Partial {
            op: self.op.or_else(|| block.op.clone()),
            skip: self.skip,
            backend: self.backend.or_else(|| block.backend.clone()),
            metrics: self.metrics.or_else(|| block.metrics.clone()),
            error_type: self.error_type.or_else(|| block.error_type.clone()),
            span: self.span.or_else(|| block.span.clone()),
        }
    }

    /// The arguments of one function; an error at `span` for what is still missing.
    pub(crate) fn complete(self, span: Span) -> syn::Result<Args> {
        let op = self
            .op
            .ok_or_else(|| syn::Error::new(span, format!("missing operation: {USAGE}")))?;
        let backend = self
            .backend
            .ok_or_else(|| syn::Error::new(span, format!("missing `backend = …`: {USAGE}")))?;
        Ok(Args {
            op,
            backend,
            metrics: self.metrics,
            error_type: self.error_type,
            span: self.span.is_some(),
        })
    }
}

/// `Generate` (a built-in, checked) or `KmsOp::WrapKey` (a derived enum's variant).
fn operation_of_path(path: Path) -> syn::Result<Operation> {
    if path.leading_colon.is_some() || path.segments.len() > 1 {
        return Ok(Operation::Path(path));
    }
    let op = path
        .segments
        .into_iter()
        .next()
        .map(|s| s.ident)
        .ok_or_else(|| syn::Error::new(Span::call_site(), USAGE))?;
    let name = op.to_string();
    if OPS.contains(&name.as_str()) {
        return Ok(Operation::Builtin(op));
    }
    let hint = match suggest(&name, &OPS) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!(
            "expected one of {}, or a string literal for an operation of your own, e.g. \"{}\"",
            OPS.join(", "),
            snake_case(&name)
        ),
    };
    Err(syn::Error::new(
        op.span(),
        format!("unknown operation `{name}`: {hint}"),
    ))
}

/// `"unwrap_key"`: a label value by the runtime's rules; a built-in's spelling means it.
pub(crate) fn operation_of_literal(lit: LitStr) -> syn::Result<Operation> {
    let name = lit.value();
    if let Some(op) = builtin_of(&name) {
        return Ok(Operation::Builtin(Ident::new(op, lit.span())));
    }
    match invalid_reason(&name) {
        None => Ok(Operation::Name(lit)),
        Some(reason) => Err(syn::Error::new(
            lit.span(),
            format!(
                "operation {name:?} {reason}: an operation is a label value in lower \
                 snake_case ASCII, 1 to 64 bytes, e.g. \"unwrap_key\""
            ),
        )),
    }
}

/// The operation position as written.
enum RawOp {
    Skip(Ident),
    Path(Path),
    Literal(LitStr),
}

/// The attribute's syntax before validation.
struct RawArgs {
    op: Option<RawOp>,
    /// `key = value`, or a bare `key` (`span`).
    pairs: Vec<(Ident, Option<Expr>)>,
}

impl Parse for RawArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut op = None;
        if input.peek(LitStr) {
            op = Some(RawOp::Literal(input.parse()?));
        } else if (input.peek(Ident) || input.peek(Token![::]))
            && !input.peek2(Token![=])
            && !is_flag(input)
        {
            let path: Path = input.parse()?;
            op = Some(match path.get_ident() {
                Some(ident) if ident == "skip" => RawOp::Skip(ident.clone()),
                _ => RawOp::Path(path),
            });
        }
        if op.is_some() && !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
        let mut pairs = Vec::new();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            let value = if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                Some(input.parse::<Expr>()?)
            } else {
                None
            };
            pairs.push((key, value));
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(RawArgs { op, pairs })
    }
}

/// Whether the input starts with the bare flag `span` (never an operation: built-ins
/// are CamelCase, a derived enum's variant a path).
fn is_flag(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    fork.parse::<Ident>().is_ok_and(|i| i == "span") && (fork.is_empty() || fork.peek(Token![,]))
}
