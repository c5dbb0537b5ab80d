//! The figures every benchmark reports: a percentile of sorted samples and
//! the median of rounds.

/// The `q` quantile (0..=1) of `sorted` samples.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// The median of `values` (the upper one of an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    percentile(&values, 0.5)
}

/// Runs `bench` on a multi-threaded runtime when cargo runs the binary as
/// a benchmark (`--bench`); under `cargo test` it only says how to run it.
pub fn run_bench<F: std::future::Future<Output = ()>>(name: &str, bench: impl FnOnce() -> F) {
    if !std::env::args().any(|a| a == "--bench") {
        println!("{name} benchmark skipped: run it with `cargo bench -p hookline-tests --bench {name}`");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}
