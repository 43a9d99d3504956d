//! How many envelopes per second `check_envelope` verifies on one thread (the work every
//! replica repeats at apply). `cargo run --release -p pint --features testkit --example check_rate`
use std::time::Instant;

use pint::testkit::World;

fn main() {
    let w = World::new();
    let chain = w.chain();
    let envelope = w.envelope(&chain);
    const ROUNDS: u32 = 2000;
    for (label, known) in [
        ("new transfer", Vec::new()),
        ("duplicate (entries held)", chain.clone()),
    ] {
        let started = Instant::now();
        for _ in 0..ROUNDS {
            w.check(&envelope, &known).expect("a valid envelope");
        }
        let s = started.elapsed().as_secs_f64();
        println!(
            "{label}: {ROUNDS} checks of a 2-entry ES256 envelope ({} bytes) in {s:.3} s: {:.0}/s",
            envelope.len(),
            f64::from(ROUNDS) / s
        );
    }
}
