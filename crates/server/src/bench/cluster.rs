//! `guichet bench cluster`: the same HTTP load through nginx in front of 1,
//! 2, then 3 nodes on the configured PostgreSQL database, with the site
//! configuration of `deploy/nginx/guichet.conf`.

use super::http::{file_tickets, read_tickets, start_server, subjects, Server};
use super::{ms, percentile};
use crate::commands::open_app;
use crate::config::Config;
use crate::progress::Progress;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// nginx, run in the foreground from a throw-away directory; stopped
/// (SIGTERM, which stops its workers too) when dropped.
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

fn nginx_binary() -> anyhow::Result<PathBuf> {
    let mut candidates = vec![PathBuf::from("/usr/sbin/nginx")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("nginx")));
    }
    candidates.into_iter().find(|p| p.is_file()).context("nginx is not installed (Debian: apt-get install nginx-light)")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn start_nginx(binary: &Path, dir: &Path, nodes: &[String]) -> anyhow::Result<(Nginx, String)> {
    let port = free_port()?;
    let site = crate::deploy::nginx_site(nodes, &format!("127.0.0.1:{port}"))?;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("site.conf"), site)?;
    let d = dir.display();
    let main = format!(
        "daemon off;\nworker_processes auto;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
           include {d}/site.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main)?;
    let child = std::process::Command::new(binary)
        .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("cannot start nginx")?;
    let nginx = Nginx(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            anyhow::bail!("nginx did not start: see {d}/error.log");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((nginx, format!("http://127.0.0.1:{port}")))
}

/// One line of the results.
struct Round {
    nodes: usize,
    created: usize,
    rate: f64,
    reads: Vec<Duration>,
    read_rate: f64,
}

/// `guichet bench cluster`: for 1 to `max_nodes` nodes, files `requests`
/// tickets and reads as many with 16 clients through nginx, and prints
/// creations per second and read p50/p99 for each.
pub async fn cluster(config: &Config, requests: usize, max_nodes: usize) -> anyhow::Result<ExitCode> {
    let (url, _) = config.database()?;
    if !url.starts_with("postgres") {
        anyhow::bail!(
            "`bench cluster` needs PostgreSQL (--database-url postgres://…): nodes cannot share a SQLite file"
        );
    }
    let nginx = nginx_binary()?;
    let app = open_app(config).await?;
    let s = subjects(&app).await?;
    app.db.close().await;
    let dir = std::env::temp_dir().join(format!("guichet-bench-cluster-{}", std::process::id()));
    const CLIENTS: usize = 16;
    let mut rounds = Vec::new();
    let done = Arc::new(AtomicUsize::new(0));
    let progress = Progress::start("requests", done.clone(), max_nodes * 2 * requests);
    for n in 1..=max_nodes {
        let mut servers: Vec<Server> = Vec::new();
        let mut addresses = Vec::new();
        for i in 1..=n {
            let (server, base, _) = start_server(&url, &format!("bench-{i}"))?;
            servers.push(server);
            addresses.push(base.trim_start_matches("http://").to_owned());
        }
        let (balancer, base) = start_nginx(&nginx, &dir.join(n.to_string()), &addresses)?;
        let (created, rate) = file_tickets(&base, &s, CLIENTS, requests, &done)?;
        let auth = ("Authorization", format!("Bearer {}", s.agent_token));
        let (reads, took) = read_tickets(&base, "/api/v1/tickets/", auth, &s, requests, CLIENTS, &done)?;
        let read_rate = reads.len() as f64 / took.as_secs_f64();
        rounds.push(Round { nodes: n, created, rate, reads, read_rate });
        drop(balancer);
        drop(servers);
    }
    progress.finish().await;
    let _ = std::fs::remove_dir_all(&dir);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("Nodes behind nginx on one PostgreSQL, {CLIENTS} clients, on this machine's {cores} core(s)");
    let one = rounds.first().map_or(1.0, |r| r.rate);
    for r in &rounds {
        println!(
            "  {} node(s): {} tickets filed, {:.0} tickets/s ({:.2}× one node); {} reads, {:.0} reads/s, p50 {} ms, p99 {} ms",
            r.nodes,
            r.created,
            r.rate,
            r.rate / one.max(1e-9),
            r.reads.len(),
            r.read_rate,
            ms(percentile(&r.reads, 50.0)),
            ms(percentile(&r.reads, 99.0))
        );
    }
    println!(
        "  nodes, nginx, PostgreSQL and the clients share the same {cores} core(s): more nodes add no CPU here; \
         on separate hosts each node brings its own"
    );
    Ok(ExitCode::SUCCESS)
}
