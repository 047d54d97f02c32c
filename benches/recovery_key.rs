//! Recovery key parsing: a correct key, and a mistyped one (which runs the typo search, at most
//! 2,047 checksums; SPEC.md "Recovery key", typo hint).

use criterion::{Criterion, criterion_group, criterion_main};
use e2ee_backup::{BackupKey, RecoveryKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;

fn parse(c: &mut Criterion) {
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(1));
    let text = RecoveryKey::from_backup_key(&key).to_string();
    // Last character changed: the search tries every earlier position first.
    let mut mistyped = text.clone();
    let last = if mistyped.pop() == Some('0') {
        '1'
    } else {
        '0'
    };
    mistyped.push(last);

    let mut group = c.benchmark_group("recovery_key");
    group.bench_function("parse_valid", |b| {
        b.iter(|| RecoveryKey::parse(black_box(&text)))
    });
    group.bench_function("parse_mistyped_with_typo_search", |b| {
        b.iter(|| RecoveryKey::parse(black_box(&mistyped)))
    });
    group.bench_function("display", |b| {
        let recovery = RecoveryKey::from_backup_key(&key);
        b.iter(|| black_box(&recovery).to_string())
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
