//! Recognising a method that `#[async_trait]` has already rewritten.
//!
//! `async_trait` turns `async fn f(&self) -> R` into a plain `fn` returning
//! `Pin<Box<dyn Future<Output = R> + Send + 'async_trait>>` whose body ends in
//! `Box::pin(async move { … })`. Timing that function would time building the future;
//! we find the async block and instrument it instead.

use syn::{
    Block, Expr, ExprAsync, ExprCall, GenericArgument, ItemFn, PathArguments, ReturnType, Stmt,
    Type, TypeParamBound,
};

/// The `async move` block and the future's `Output` type, if `item` has this shape.
pub(crate) fn future_of(item: &ItemFn) -> Option<(ExprAsync, ReturnType)> {
    let output = boxed_future_output(&item.sig.output)?;
    let mut block = (*item.block).clone();
    let future = box_pin_arg(tail_expr(&mut block)?)?;
    Some((future.clone(), output))
}

/// Replaces the body of the `async move` block found by [`future_of`].
pub(crate) fn replace_future_body(item: &mut ItemFn, body: Block) {
    if let Some(future) = tail_expr(&mut item.block).and_then(box_pin_arg) {
        future.block = body;
    }
}

/// `Box::pin(async move { … })` → the async block.
fn box_pin_arg(expr: &mut Expr) -> Option<&mut ExprAsync> {
    let Expr::Call(ExprCall { func, args, .. }) = expr else {
        return None;
    };
    let Expr::Path(path) = &**func else {
        return None;
    };
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    if !segments.ends_with(&["Box".into(), "pin".into()]) || args.len() != 1 {
        return None;
    }
    match args.first_mut()? {
        Expr::Async(future) => Some(future),
        _ => None,
    }
}

/// `Pin<Box<dyn Future<Output = R> + …>>` → `-> R`.
fn boxed_future_output(output: &ReturnType) -> Option<ReturnType> {
    let ReturnType::Type(arrow, ty) = output else {
        return None;
    };
    let pin = last_generic(ty, "Pin")?;
    let boxed = last_generic(pin, "Box")?;
    let Type::TraitObject(object) = boxed else {
        return None;
    };
    object.bounds.iter().find_map(|bound| {
        let TypeParamBound::Trait(t) = bound else {
            return None;
        };
        let segment = t.path.segments.last()?;
        if segment.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &segment.arguments else {
            return None;
        };
        args.args.iter().find_map(|arg| match arg {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => {
                Some(ReturnType::Type(*arrow, Box::new(assoc.ty.clone())))
            }
            _ => None,
        })
    })
}

/// `Name<T>` (any path ending in `Name`) → `T`.
fn last_generic<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    let segment = path.path.segments.last()?;
    if segment.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// The last expression of a block, if the block ends in one.
fn tail_expr(block: &mut Block) -> Option<&mut Expr> {
    match block.stmts.last_mut() {
        Some(Stmt::Expr(expr, None)) => Some(expr),
        _ => None,
    }
}
