//! What an operator puts around several nodes: the load balancer's site
//! configuration, from the one in `deploy/nginx/guichet.conf` (the file the
//! multi-node test and `guichet bench cluster` run nginx with).

use anyhow::bail;

/// The site file as shipped, with example node addresses.
const NGINX_SITE: &str = include_str!("../../../deploy/nginx/guichet.conf");

/// The nginx site configuration for `nodes` (`host:port` each), listening on
/// `listen` (a port or `address:port`).
pub fn nginx_site(nodes: &[String], listen: &str) -> anyhow::Result<String> {
    if nodes.is_empty() {
        bail!("give at least one node address (--node HOST:PORT)");
    }
    for node in nodes {
        let valid = node.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty()
                && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-[]:".contains(c))
                && port.parse::<u16>().is_ok()
        });
        if !valid {
            bail!("`{node}` is not a node address such as 10.0.0.11:8080");
        }
    }
    let listen_ok = listen.rsplit(':').next().is_some_and(|p| p.parse::<u16>().is_ok())
        && listen.chars().all(|c| c.is_ascii_alphanumeric() || ".:[]".contains(c));
    if !listen_ok {
        bail!("`{listen}` is not a port or an address such as 127.0.0.1:8080");
    }
    let mut out = String::new();
    let mut nodes_written = false;
    for line in NGINX_SITE.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("server 127.0.0.1:") {
            if !nodes_written {
                for node in nodes {
                    out.push_str(&format!("    server {node} max_fails=1 fail_timeout=3s;\n"));
                }
                nodes_written = true;
            }
        } else if trimmed == "listen 80;" {
            out.push_str(&format!("    listen {listen};\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_site_lists_the_nodes_given_and_listens_where_asked() {
        let site = nginx_site(&["10.0.0.11:8080".into(), "10.0.0.12:8080".into()], "127.0.0.1:9000").unwrap();
        assert!(site.contains("    server 10.0.0.11:8080 max_fails=1 fail_timeout=3s;\n    server 10.0.0.12:8080"));
        assert!(site.contains("listen 127.0.0.1:9000;"));
        assert!(!site.contains("127.0.0.1:8081") && !site.contains("listen 80;"));
        assert!(site.contains("proxy_pass http://guichet_nodes;"));
    }

    #[test]
    fn an_address_that_could_break_the_file_is_refused() {
        for bad in ["10.0.0.1", "10.0.0.1:80; include /etc/passwd", "host:99999", ":8080", "a b:80"] {
            assert!(nginx_site(&[bad.into()], "80").is_err(), "{bad}");
        }
        assert!(nginx_site(&[], "80").is_err());
        assert!(nginx_site(&["10.0.0.1:80".into()], "80; evil").is_err());
    }
}
