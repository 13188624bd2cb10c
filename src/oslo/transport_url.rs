//! oslo.messaging transport URLs: `rabbit://user:pass@host1:5672,user:pass@host2/vhost?ssl=1`.
//!
//! Parsed as oslo's `TransportURL.parse` does: the network location is split on `,` into
//! hosts, each with its own optional credentials (split at the last `@`, then the first
//! `:`), and the path is the percent-decoded virtual host. Hosts without credentials use
//! `guest`/`guest`, like kombu. TLS comes from an `amqps://` scheme or `?ssl=1`/`?ssl=true`.
//!
//! A password never leaves this module in clear: [`TransportUrl`]'s `Display` and `Debug`
//! write `***` in its place, and parse errors never quote it. Nothing here does I/O.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use std::fmt;
use std::str::FromStr;

/// The URL used when neither `--transport-url` nor `OSLO_TRANSPORT_URL` is given.
pub const DEFAULT_URL: &str = "rabbit://guest:guest@localhost:5672/";
/// The AMQP port.
pub const AMQP_PORT: u16 = 5672;
/// The AMQP-over-TLS port.
pub const AMQPS_PORT: u16 = 5671;
const MASK: &str = "***";

/// Characters escaped when a user name or virtual host is written back into a URL.
const COMPONENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b',')
    .add(b'/')
    .add(b':')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b']');

/// One broker of a transport URL, with the credentials to use there.
#[derive(Clone, PartialEq, Eq)]
pub struct Host {
    /// Host name or IP address (IPv6 without brackets).
    pub hostname: String,
    /// TCP port.
    pub port: u16,
    /// Whether the URL gave the port (else it is the scheme's default).
    pub port_given: bool,
    /// User name (`guest` when the URL names none).
    pub username: String,
    /// Password (`guest` when the URL names none). Never displayed.
    pub password: String,
}

impl Host {
    /// `hostname:port`, with brackets around an IPv6 address.
    pub fn address(&self) -> String {
        if self.hostname.contains(':') {
            format!("[{}]:{}", self.hostname, self.port)
        } else {
            format!("{}:{}", self.hostname, self.port)
        }
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("hostname", &self.hostname)
            .field("port", &self.port)
            .field("port_given", &self.port_given)
            .field("username", &self.username)
            .field("password", &MASK)
            .finish()
    }
}

/// A parsed transport URL.
#[derive(Clone, PartialEq, Eq)]
pub struct TransportUrl {
    /// The scheme as written: `rabbit`, `kombu`, `amqp` or `amqps`.
    pub scheme: String,
    /// The brokers, in the URL's order. Never empty.
    pub hosts: Vec<Host>,
    /// The AMQP virtual host, percent-decoded (`/` when the URL has none).
    pub virtual_host: String,
    /// Whether to connect with TLS.
    pub tls: bool,
    /// Query parameters other than `ssl`, percent-decoded, in order.
    pub query: Vec<(String, String)>,
}

impl fmt::Debug for TransportUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransportUrl({self})")
    }
}

/// Why a transport URL could not be parsed. The messages never contain a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError {
    url: String,
    reason: String,
}

impl UrlError {
    fn new(raw: &str, reason: impl Into<String>) -> Self {
        UrlError {
            url: redact(raw),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid transport URL {:?}: {}", self.url, self.reason)
    }
}

impl std::error::Error for UrlError {}

impl FromStr for TransportUrl {
    type Err = UrlError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        TransportUrl::parse(raw)
    }
}

fn decode(raw: &str, part: &str, what: &str) -> Result<String, UrlError> {
    percent_decode_str(part)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| UrlError::new(raw, format!("{what} is not UTF-8 once percent-decoded")))
}

fn parse_bool(raw: &str, key: &str, value: &str) -> Result<bool, UrlError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(UrlError::new(
            raw,
            format!("{key}={value:?} is not a boolean (use 1, true, 0 or false)"),
        )),
    }
}

/// Splits `host[:port]` or `[v6]:port` like oslo.utils' `parse_host_port`.
fn split_host_port<'a>(raw: &str, text: &'a str) -> Result<(&'a str, Option<&'a str>), UrlError> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| UrlError::new(raw, format!("unclosed '[' in host {text:?}")))?;
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(UrlError::new(
                    raw,
                    format!("unexpected {after:?} after ']' in host {text:?}"),
                )),
            },
        };
    }
    match text.matches(':').count() {
        0 => Ok((text, None)),
        1 => {
            let (host, port) = text.split_once(':').unwrap_or((text, ""));
            Ok((host, Some(port)))
        }
        // A bare IPv6 address: no port can be told apart from it.
        _ if text.parse::<std::net::Ipv6Addr>().is_ok() => Ok((text, None)),
        _ => Err(UrlError::new(
            raw,
            format!("invalid host {text:?} (write an IPv6 address with a port as [address]:port)"),
        )),
    }
}

impl TransportUrl {
    /// Parses a transport URL.
    ///
    /// ```
    /// use oslo_notify::transport_url::TransportUrl;
    ///
    /// let url = TransportUrl::parse("rabbit://nova:s3cret@ctl1,nova:s3cret@ctl2:5673/nova?ssl=1").unwrap();
    /// assert_eq!(url.hosts.len(), 2);
    /// assert_eq!(url.hosts[0].port, 5671);
    /// assert_eq!(url.hosts[1].address(), "ctl2:5673");
    /// assert_eq!(url.virtual_host, "nova");
    /// assert_eq!(url.to_string(), "rabbit://nova:***@ctl1:5671,nova:***@ctl2:5673/nova?ssl=1");
    /// ```
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let (scheme, rest) = raw.split_once("://").ok_or_else(|| {
            UrlError::new(raw, "no scheme (expected rabbit://, amqp:// or amqps://)")
        })?;
        let scheme = scheme.to_ascii_lowercase();
        let mut tls = match scheme.as_str() {
            "rabbit" | "kombu" | "amqp" => false,
            "amqps" => true,
            "" => {
                return Err(UrlError::new(
                    raw,
                    "no scheme (expected rabbit://, amqp:// or amqps://)",
                ))
            }
            other => {
                return Err(UrlError::new(
                    raw,
                    format!("unsupported scheme {other:?} (expected rabbit, amqp or amqps)"),
                ))
            }
        };
        let after_scheme = rest;
        // Like urlsplit: a fragment is dropped, the query follows '?', the path the first '/'.
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (rest, query_text) = rest.split_once('?').unwrap_or((rest, ""));
        let (netloc, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };

        let mut query = Vec::new();
        for pair in query_text.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(raw, &key.replace('+', " "), "a query key")?;
            let value = decode(raw, &value.replace('+', " "), "a query value")?;
            if key == "ssl" {
                tls = tls || parse_bool(raw, &key, &value)?;
            } else {
                query.push((key, value));
            }
        }
        let default_port = if tls { AMQPS_PORT } else { AMQP_PORT };

        let mut hosts = Vec::new();
        for entry in netloc.split(',').filter(|h| !h.is_empty()) {
            let (credentials, location) = match entry.rsplit_once('@') {
                Some((credentials, location)) => (Some(credentials), location),
                None => (None, entry),
            };
            let (username, password) = match credentials {
                None => (None, None),
                Some(c) => match c.split_once(':') {
                    Some((user, pass)) => (Some(user), Some(pass)),
                    None => (Some(c), None),
                },
            };
            let (hostname, port) = split_host_port(raw, location)?;
            if hostname.is_empty() {
                return Err(UrlError::new(
                    raw,
                    format!("a host has no name in {:?}", redact_host(entry)),
                ));
            }
            let port_given = !matches!(port, None | Some(""));
            let port = match port {
                None | Some("") => default_port,
                Some(p) => match p.parse::<u16>() {
                    Ok(port) if port > 0 => port,
                    // "user:pa/ss@host": the password's '/' ended the host part early, so
                    // what looks like a port is the start of a password. Do not quote it.
                    _ if credentials.is_none() && after_scheme[netloc.len()..].contains('@') => {
                        return Err(UrlError::new(
                            raw,
                            "the credentials hold an unescaped '/', '?' or '#': percent-encode it (%2F, %3F, %23)",
                        ))
                    }
                    _ => return Err(UrlError::new(raw, format!("invalid port {p:?} for host {hostname:?}"))),
                },
            };
            hosts.push(Host {
                hostname: hostname.to_owned(),
                port,
                port_given,
                username: decode(raw, username.unwrap_or("guest"), "a user name")?,
                password: decode(raw, password.unwrap_or("guest"), "a password")?,
            });
        }
        if hosts.is_empty() {
            // oslo leaves the choice to kombu, which connects to localhost as guest.
            hosts.push(Host {
                hostname: "localhost".into(),
                port: default_port,
                port_given: false,
                username: "guest".into(),
                password: "guest".into(),
            });
        }

        let virtual_host = match decode(raw, path, "the virtual host")? {
            vhost if vhost.is_empty() => "/".to_owned(),
            vhost => vhost,
        };
        Ok(TransportUrl {
            scheme,
            hosts,
            virtual_host,
            tls,
            query,
        })
    }
}

impl TransportUrl {
    /// Turns TLS on (as oslo's `[oslo_messaging_rabbit] ssl = true` does): hosts whose URL
    /// gave no port move to 5671.
    pub fn enable_tls(&mut self) {
        self.tls = true;
        for host in self.hosts.iter_mut().filter(|h| !h.port_given) {
            host.port = AMQPS_PORT;
        }
    }

    /// The value of a query parameter, such as `ssl_ca_file`.
    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for TransportUrl {
    /// The URL with every password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        for (i, host) in self.hosts.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(
                f,
                "{}:{MASK}@{}",
                utf8_percent_encode(&host.username, COMPONENT),
                host.address()
            )?;
        }
        let vhost = if self.virtual_host == "/" {
            ""
        } else {
            &self.virtual_host
        };
        write!(f, "/{}", utf8_percent_encode(vhost, COMPONENT))?;
        let mut sep = '?';
        if self.tls && self.scheme != "amqps" {
            f.write_str("?ssl=1")?;
            sep = '&';
        }
        for (key, value) in &self.query {
            write!(
                f,
                "{sep}{}={}",
                utf8_percent_encode(key, COMPONENT),
                utf8_percent_encode(value, COMPONENT)
            )?;
            sep = '&';
        }
        Ok(())
    }
}

fn redact_host(entry: &str) -> String {
    match entry.rsplit_once('@') {
        Some((credentials, location)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{user}:{MASK}@{location}"),
            None => entry.to_owned(),
        },
        None => entry.to_owned(),
    }
}

/// `raw` with the password of every host replaced by `***`, for messages about a URL that
/// may not parse (even one that lacks its scheme).
pub fn redact(raw: &str) -> String {
    let (scheme, rest) = match raw.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), raw),
    };
    // The network location ends at the last '@' before the path, so that a password holding
    // '/', '?' or '#' is still hidden.
    let end = rest.rfind('@').map_or(0, |at| at + 1);
    let end = end
        + rest[end..]
            .find(['/', '?', '#'])
            .unwrap_or(rest.len() - end);
    let (netloc, tail) = rest.split_at(end);
    let hosts: Vec<String> = netloc.split(',').map(redact_host).collect();
    format!("{scheme}{}{tail}", hosts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> TransportUrl {
        TransportUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn the_default_url() {
        let url = parse(DEFAULT_URL);
        assert_eq!(url.scheme, "rabbit");
        assert!(!url.tls);
        assert_eq!(url.virtual_host, "/");
        assert_eq!(url.hosts.len(), 1);
        let host = &url.hosts[0];
        assert_eq!((host.hostname.as_str(), host.port), ("localhost", 5672));
        assert_eq!(
            (host.username.as_str(), host.password.as_str()),
            ("guest", "guest")
        );
    }

    #[test]
    fn several_hosts_with_their_own_credentials_and_ports() {
        let url = parse("rabbit://a:pa@h1:5673,b:pb@h2,c:pc@[fd00::1]:5674/nova");
        let got: Vec<_> = url
            .hosts
            .iter()
            .map(|h| {
                (
                    h.username.as_str(),
                    h.password.as_str(),
                    h.hostname.as_str(),
                    h.port,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a", "pa", "h1", 5673),
                ("b", "pb", "h2", 5672),
                ("c", "pc", "fd00::1", 5674)
            ]
        );
        assert_eq!(url.hosts[2].address(), "[fd00::1]:5674");
        let bare = parse("rabbit://u:p@fd00::2/");
        assert_eq!(
            (bare.hosts[0].hostname.as_str(), bare.hosts[0].port),
            ("fd00::2", 5672)
        );
        assert_eq!(url.virtual_host, "nova");
    }

    #[test]
    fn tls_from_scheme_or_query_changes_the_default_port() {
        for s in [
            "amqps://u:p@h/",
            "rabbit://u:p@h/?ssl=1",
            "amqp://u:p@h/?ssl=true",
            "rabbit://u:p@h?SSL=x&ssl=True",
        ] {
            if s.contains("SSL=x") {
                // Keys are case-sensitive, as in oslo: SSL is kept as an unknown parameter.
                let url = parse(s);
                assert!(url.tls);
                assert_eq!(url.query, [("SSL".to_owned(), "x".to_owned())]);
                continue;
            }
            let url = parse(s);
            assert!(url.tls, "{s}");
            assert_eq!(url.hosts[0].port, 5671, "{s}");
        }
        let url = parse("rabbit://u:p@h/?ssl=0");
        assert!(!url.tls);
        assert_eq!(url.hosts[0].port, 5672);
        assert!(TransportUrl::parse("rabbit://u:p@h/?ssl=maybe").is_err());
    }

    #[test]
    fn tls_turned_on_later_moves_only_default_ports() {
        let mut url = parse("rabbit://u:p@h1,u:p@h2:5680/?ssl_ca_file=%2Fca.pem");
        url.enable_tls();
        assert!(url.tls);
        assert_eq!((url.hosts[0].port, url.hosts[1].port), (5671, 5680));
        assert_eq!(url.query_value("ssl_ca_file"), Some("/ca.pem"));
        assert_eq!(url.query_value("nope"), None);
    }

    #[test]
    fn virtual_hosts_are_percent_decoded() {
        assert_eq!(parse("rabbit://u:p@h").virtual_host, "/");
        assert_eq!(parse("rabbit://u:p@h/").virtual_host, "/");
        assert_eq!(parse("rabbit://u:p@h/%2F").virtual_host, "/");
        assert_eq!(parse("rabbit://u:p@h/%2Fnova").virtual_host, "/nova");
        assert_eq!(parse("rabbit://u:p@h/cell%201").virtual_host, "cell 1");
    }

    #[test]
    fn credentials_are_percent_decoded_and_split_like_oslo() {
        let url = parse("rabbit://us%40er:p%3Aa%2Fss:w@rd@h/");
        let host = &url.hosts[0];
        assert_eq!(host.username, "us@er");
        assert_eq!(host.password, "p:a/ss:w@rd");
        assert_eq!(host.hostname, "h");
        let anonymous = parse("rabbit://h1,h2:5700/");
        assert_eq!(anonymous.hosts[1].username, "guest");
        assert_eq!(anonymous.hosts[1].password, "guest");
        assert_eq!(anonymous.hosts[1].port, 5700);
    }

    #[test]
    fn no_host_means_localhost_like_kombu() {
        let url = parse("rabbit:///vh");
        assert_eq!(url.hosts[0].address(), "localhost:5672");
        assert_eq!(url.virtual_host, "vh");
    }

    #[test]
    fn other_query_parameters_are_kept() {
        let url = parse("rabbit://u:p@h/?ssl_ca_file=%2Fetc%2Fca.pem&heartbeat=30");
        assert_eq!(
            url.query,
            [
                ("ssl_ca_file".to_owned(), "/etc/ca.pem".to_owned()),
                ("heartbeat".to_owned(), "30".to_owned())
            ]
        );
    }

    #[test]
    fn display_and_debug_hide_passwords() {
        let url = parse("rabbit://nova:hunter2@h1,neutron:hunter3@h2:5673/%2F?ssl=1&x=y");
        let shown = url.to_string();
        assert_eq!(
            shown,
            "rabbit://nova:***@h1:5671,neutron:***@h2:5673/?ssl=1&x=y"
        );
        let vhost = parse("rabbit://u:p@h/%2Fnova").to_string();
        assert_eq!(vhost, "rabbit://u:***@h:5672/%2Fnova");
        let debug = format!("{url:?} {:?}", url.hosts);
        assert!(
            !shown.contains("hunter") && !debug.contains("hunter"),
            "{debug}"
        );
        // What is displayed parses back to the same URL, but for the passwords.
        let back = parse(&shown);
        assert_eq!(back.virtual_host, url.virtual_host);
        assert_eq!(back.hosts[1].address(), url.hosts[1].address());
    }

    #[test]
    fn malformed_urls_are_clear_errors_without_the_password() {
        let cases = [
            ("nova:hunter2@h1", "no scheme"),
            ("://nova:hunter2@h1", "no scheme"),
            ("kafka://nova:hunter2@h1/", "unsupported scheme \"kafka\""),
            (
                "rabbit://nova:hunter2@h1:notaport/",
                "invalid port \"notaport\"",
            ),
            ("rabbit://nova:hunter2@h1:70000/", "invalid port \"70000\""),
            ("rabbit://nova:hunter2@h1:0/", "invalid port \"0\""),
            ("rabbit://nova:hunter2@/", "a host has no name"),
            ("rabbit://nova:hunter2@[::1/", "unclosed '['"),
            (
                "rabbit://nova:hunter2@h:5672:x/",
                "invalid host \"h:5672:x\"",
            ),
            ("rabbit://nova:hunter2@h/%ff", "virtual host is not UTF-8"),
            ("rabbit://nova:hunter2@h/?ssl=2", "is not a boolean"),
            ("rabbit://nova:hun/ter2@h/", "unescaped '/', '?' or '#'"),
            ("rabbit://nova:hun?ter2@h/", "unescaped '/', '?' or '#'"),
        ];
        for (raw, reason) in cases {
            let err = TransportUrl::parse(raw).unwrap_err().to_string();
            assert!(err.contains(reason), "{raw}: {err}");
            assert!(!err.contains("hun"), "{raw}: {err}");
        }
    }

    #[test]
    fn redact_hides_passwords_even_in_text_that_does_not_parse() {
        assert_eq!(
            redact("rabbit://a:x@h1,b:y@h2:99/v?q=1"),
            "rabbit://a:***@h1,b:***@h2:99/v?q=1"
        );
        assert_eq!(redact("rabbit://a:p/ss@h/v"), "rabbit://a:***@h/v");
        assert_eq!(redact("rabbit://h/v"), "rabbit://h/v");
        assert_eq!(redact("plain text"), "plain text");
        assert_eq!(redact("nova:hunter2@h1/v"), "nova:***@h1/v");
    }
}
