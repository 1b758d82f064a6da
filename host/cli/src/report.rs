//! How an error reaches the user: one line, each cause once.

/// An error and its causes on one line, `what: why: why`, as the binary prints it.
///
/// The library's errors put their source's text in their own message (so a plain
/// `to_string` says why), and also return it as their `source()`; anyhow's `{:#}` then
/// prints that cause twice. A cause whose text the line already ends with is skipped.
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::error_line;

    #[derive(Debug, thiserror::Error)]
    #[error("HTTP request to {url} failed: {source}")]
    struct Outer {
        url: &'static str,
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let err =
            anyhow::Error::new(Outer { url: "http://127.0.0.1:1", source: io }).context("creating user u");
        assert_eq!(format!("{err:#}").matches("connection refused").count(), 2, "anyhow repeats it");
        assert_eq!(
            error_line(&err),
            "creating user u: HTTP request to http://127.0.0.1:1 failed: connection refused"
        );
    }

    #[test]
    fn causes_not_in_the_message_are_kept() {
        let err = anyhow::anyhow!("no such file").context("reading a.toml").context("loading the config");
        assert_eq!(error_line(&err), "loading the config: reading a.toml: no such file");
    }
}
