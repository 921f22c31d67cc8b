use keychain_metrics::ErrorType;

#[derive(ErrorType)]
enum KeyError {
    #[error_type(opaque)]
    Hidden,
}

fn main() {}
