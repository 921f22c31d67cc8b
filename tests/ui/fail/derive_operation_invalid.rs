use keychain_metrics::Operation;

#[derive(Operation)]
enum WithData {
    Wrap(u8),
}

#[derive(Operation)]
enum BadOverride {
    #[operation("Random Bytes")]
    Random,
}

#[derive(Operation)]
struct NotAnEnum;

fn main() {}
