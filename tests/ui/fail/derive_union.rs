use keychain_metrics::ErrorType;

#[derive(ErrorType)]
union Bits {
    a: u32,
    b: f32,
}

fn main() {}
