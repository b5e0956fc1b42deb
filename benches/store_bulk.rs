//! Bulk speed of the store backends (issue 4): replaces the large generated sample into a fresh
//! SQLite store and a fresh PostgreSQL database, alternately, for several rounds, and prints
//! the medians and the ratio PostgreSQL / SQLite (the target is at most 2.0). It owns only the
//! measurement; what a replace does is the stores' business. Timings are printed, never
//! asserted: they depend on the machine.
//!
//! ```text
//! ATIVO_BENCH_PG=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench store_bulk
//! ```
//!
//! `ATIVO_BENCH_PG` (else `ATIVO_TEST_PG`, else the local default) names an admin connection
//! that may create and drop databases; each round uses a new database `ativo_bench_*`, dropped
//! afterwards. `ATIVO_BENCH_ROUNDS` sets the number of rounds (default 5, at least 3).

use std::time::{Duration, Instant};

use ativo_backup::host::{Deployment, HostIdentity};
use ativo_backup::model::Configuration;
use ativo_backup::sample::{self, SampleSize};
use ativo_backup::store::{self, Location, OpenOptions, Operation};
use chrono::Utc;
use postgres::{Client, NoTls};

fn admin_url() -> String {
    std::env::var("ATIVO_BENCH_PG")
        .or_else(|_| std::env::var("ATIVO_TEST_PG"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn op() -> Operation {
    Operation {
        id: 0,
        at: Utc::now(),
        kind: "import".into(),
        os_user: "bench".to_owned(),
        archive_digest: None,
        content_digest: None,
        outcome: "ok".into(),
        detail: serde_json::json!({}),
    }
}

/// Creates a store at `location`, then times one replace of `config` into it (the import's
/// write: read the current state under the lock, delete, bulk insert, log, commit).
fn time_replace(location: &Location, config: &Configuration) -> Duration {
    let host = HostIdentity::new(Deployment::Datacenter, "BENCH-0001", "https://jira.example.com").unwrap();
    let options = OpenOptions::default();
    let mut st = store::create_with(location, &host, &options).unwrap();
    let started = Instant::now();
    st.replace(&mut |_| Ok((config.clone(), op()))).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(st.snapshot().unwrap().config.counts(), config.counts(), "the store holds what was written");
    elapsed
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("ATIVO_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5).max(3);
    let (mut config, _) = sample::generate(SampleSize::Large);
    config.sort();
    println!("large sample: {} rows; {rounds} rounds, alternating", config.row_count());

    let admin = admin_url();
    let mut admin_client = Client::connect(&admin, NoTls)
        .unwrap_or_else(|e| panic!("the benchmark needs a PostgreSQL server at {admin} (ATIVO_BENCH_PG): {e}"));
    let (mut sqlite_times, mut pg_times) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = time_replace(&Location::Sqlite(dir.path().join("ativo.db")), &config);

        let db = format!("ativo_bench_{}_{round}", std::process::id());
        admin_client.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&db);
        let pg = time_replace(&Location::parse(url.as_str()).expect("a PostgreSQL URL"), &config);
        admin_client.batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)")).unwrap();

        println!("round {round}: sqlite {:>8.1} ms   postgresql {:>8.1} ms", ms(sqlite), ms(pg));
        sqlite_times.push(sqlite);
        pg_times.push(pg);
    }
    let (s, p) = (median(sqlite_times), median(pg_times));
    println!(
        "median: sqlite {:.1} ms, postgresql {:.1} ms, ratio postgresql/sqlite {:.2} (target <= 2.0)",
        ms(s),
        ms(p),
        ms(p) / ms(s)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
