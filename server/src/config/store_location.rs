//! `--store`: which store holds the documents.
//!
//! Checked when the flag is parsed, so a typo in a URL stops `quire serve` with the flag's name
//! instead of surfacing later as a connection error. The URL itself is kept as given: the
//! PostgreSQL driver reads its parameters, and `quire config print` masks its password.

/// Where a server keeps its documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The embedded sled database in `--data-dir`.
    Sled,
    /// A PostgreSQL database, by its connection URL.
    Postgres(String),
}

/// `sled`, or a `postgres://` / `postgresql://` URL naming a host.
pub(super) fn store_location(text: &str) -> Result<StoreLocation, String> {
    if text == "sled" {
        return Ok(StoreLocation::Sled);
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err("expected `sled` or a postgres:// URL".to_owned());
    };
    if !matches!(scheme, "postgres" | "postgresql") {
        return Err(format!(
            "expected `sled` or a postgres:// URL, not a {scheme}:// one"
        ));
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() {
        return Err("the URL names no host".to_owned());
    }
    Ok(StoreLocation::Postgres(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sled_and_postgres_urls_are_told_apart() {
        assert_eq!(store_location("sled"), Ok(StoreLocation::Sled));
        for url in [
            "postgres://quire:secret@db:5432/quire",
            "postgresql://db/quire?sslmode=disable",
        ] {
            assert_eq!(
                store_location(url),
                Ok(StoreLocation::Postgres(url.to_owned()))
            );
        }
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for (text, reason) in [
            ("Sled", "expected `sled`"),
            ("mysql://db/quire", "not a mysql://"),
            ("postgres:///quire", "names no host"),
            ("postgres://user:pass@/quire", "names no host"),
        ] {
            let error = store_location(text).expect_err(text);
            assert!(error.contains(reason), "{text}: {error}");
        }
    }
}
