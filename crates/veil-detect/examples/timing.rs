//! Run with `cargo run --release -p veil-detect --example timing -- FILE [CLASS,...]`: CPU-bound
//! throughput of `analyze` over the lines of FILE (a profiling aid).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let mut b = veil_detect::Analyzer::builder();
    if let Some(classes) = args.next() {
        b = b.entities(
            classes
                .split(',')
                .map(|c| veil_detect::DataClass::parse_any(c).unwrap()),
        );
    }
    let a = b.build().unwrap();
    let t = std::time::Instant::now();
    let mut n = 0;
    if std::env::var_os("WHOLE").is_some() {
        for chunk in text.as_bytes().chunks(1 << 20) {
            n += a.analyze(std::str::from_utf8(chunk).unwrap_or("")).len();
        }
    } else {
        for line in text.lines() {
            n += a.analyze(line).len();
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{n} findings, {:.1} MB in {s:.2}s wall = {:.2} MB/s",
        text.len() as f64 / 1e6,
        text.len() as f64 / 1e6 / s
    );
}
