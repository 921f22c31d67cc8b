//! Compiles the test proto (shared with `tests/`) with protox: no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../tests/proto/keys.proto");
    let descriptors = protox::compile(["keys.proto"], ["../tests/proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
