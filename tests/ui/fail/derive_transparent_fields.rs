use keychain_metrics::ErrorType;

#[derive(ErrorType)]
enum KeyError {
    #[error_type(transparent)]
    Both(std::io::Error, String),
    #[error_type(transparent)]
    Nothing,
}

fn main() {}
