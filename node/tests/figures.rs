//! Figures for the README (issue 13), not a test of correctness: register and recover latency
//! through the real fleet on loopback (5 replica processes, relay, TLS, redb with fsync, the
//! production suite with Argon2id on the client), and wrong-password attempts per second for one
//! group. Ignored by default; run release builds:
//!
//! `cargo test --release -p e2ee-backup-node --test figures -- --ignored --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::cell::RefCell;
use std::time::{Duration, Instant};

use e2ee_backup::BackupKey;
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup_node::client_link::ClientLink;
use e2ee_backup_node::config::Mode;

use support::*;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(what: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{what}: n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
        v.len(),
        percentile(&v, 0.5).as_secs_f64() * 1e3,
        percentile(&v, 0.99).as_secs_f64() * 1e3,
        v.last().unwrap().as_secs_f64() * 1e3
    );
}

#[test]
#[ignore = "figures: run with --release --ignored --nocapture"]
fn figures_latency_and_attempts_per_second() {
    let tmp = tempfile::tempdir().unwrap();
    // FIGURES_MODE=volatile measures without the trusted-cell file (its fsyncs).
    let mode = match std::env::var("FIGURES_MODE").as_deref() {
        Ok("volatile") => Mode::Volatile,
        _ => Mode::Durable,
    };
    println!("mode: {mode:?}");
    let fleet = Fleet::with_options(
        tmp.path(),
        mode,
        "bucket_capacity = 1000000\nrefill_interval_ms = 1",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    for r in 0..5 {
        assert!(fleet.wait_voting(r, deadline));
    }
    let link = &fleet.link;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rng = e2ee_backup_node::os_rng();
    const N: usize = 100;
    // Latency: one connection per client, operations measured from start to outcome (the
    // TLS handshake is not counted).
    let (mut reg, mut rec) = (Vec::new(), Vec::new());
    rt.block_on(async {
        for i in 0..N {
            let name = format!("lat-{i}");
            let mut c = client(link, &name);
            let account = c.account().clone();
            let mut l = ClientLink::connect(
                link.relay_addr,
                "localhost",
                &link.pinned,
                &link.token(&account),
            )
            .await
            .unwrap();
            let key = BackupKey::generate(&mut rng);
            let t = Instant::now();
            let o = l
                .run(&mut c, |c, now, rng| {
                    c.start_register(now, rng, b"pw", &key, 100)
                })
                .await
                .unwrap();
            reg.push(t.elapsed());
            assert!(matches!(o, ClientOutcome::Registered { .. }), "{o:?}");
            let t = Instant::now();
            let o = l
                .run(&mut c, |c, now, rng| c.start_recover(now, rng, b"pw"))
                .await
                .unwrap();
            rec.push(t.elapsed());
            assert!(matches!(o, ClientOutcome::Recovered(_)), "{o:?}");
        }
    });
    report("register (RegisterStart, RegisterFinish, Expose)", reg);
    report("recover (Status, LoginStart, LoginFinish)", rec);

    // Attempts per second: C attackers on C accounts (limit 100 each) guess wrong for T.
    const C: usize = 8;
    let t_for = Duration::from_secs(10);
    let answered = RefCell::new(0u32);
    let lat = RefCell::new(Vec::new());
    rt.block_on(async {
        let attackers = (0..C).map(|a| {
            let answered = &answered;
            let lat = &lat;
            let mut rng = e2ee_backup_node::os_rng();
            async move {
                let name = format!("target-{a}");
                let mut c = client(link, &name);
                let account = c.account().clone();
                let mut l = ClientLink::connect(link.relay_addr, "localhost", &link.pinned, &link.token(&account))
                    .await
                    .unwrap();
                let key = BackupKey::generate(&mut rng);
                let o = l.run(&mut c, |c, now, rng| c.start_register(now, rng, b"pw", &key, 100)).await.unwrap();
                assert!(matches!(o, ClientOutcome::Registered { .. }));
                let stop = Instant::now() + t_for;
                let mut n = 0;
                while Instant::now() < stop && n < 99 {
                    n += 1;
                    let t = Instant::now();
                    let o = l.run(&mut c, |c, now, rng| c.start_recover(now, rng, b"wrong")).await.unwrap();
                    if matches!(o, ClientOutcome::WrongPassword { .. }) {
                        *answered.borrow_mut() += 1;
                        lat.borrow_mut().push(t.elapsed());
                    }
                }
            }
        });
        let t = Instant::now();
        let all: Vec<_> = attackers.collect();
        futures_join_all(all).await;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "wrong-password attempts answered: {} in {:.1} s = {:.0} attempts/s for one group ({C} concurrent attackers, client Argon2id in the same process)",
            answered.borrow(),
            secs,
            f64::from(*answered.borrow()) / secs
        );
    });
    report("wrong-password attempt under load", lat.into_inner());
}

/// Runs every future to completion on the current task (no spawn: they borrow).
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: Vec<F>) {
    let mut set: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        set.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if set.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
