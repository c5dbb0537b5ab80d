//! Compiles `hookline/v1/*.proto` with protox (pure Rust), so no system
//! `protoc` is needed, then generates the Rust types with prost-build.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["hookline/v1/messages.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["."])?;
    prost_build::Config::new()
        // Ingest stores the body it received without copying it first; log
        // batches are built from, and read back as, slices of one buffer.
        .bytes([".hookline.v1.InboundEvent.body", ".hookline.v1.LogBatch.records"])
        .compile_fds(descriptors)?;
    Ok(())
}
