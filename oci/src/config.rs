//! Image-config vocabulary both the builder (STOPSIGNAL, the PATH of a scratch stage) and the
//! engine (stopping and killing containers, a container's environment) read: one definition
//! of each here, below both of them.

use crate::Error;

/// The PATH a container gets when its image sets none (Docker's, and BuildKit's for RUN).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A signal as Docker accepts it (`SIGTERM`, `term`, `15`) as its number.
pub fn parse_signal(s: &str) -> Result<i32, Error> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        if n > 0 && n < 65 {
            return Ok(n);
        }
        return Err(Error::InvalidSignal(s.to_string()));
    }
    let up = t.to_ascii_uppercase();
    let name = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
    use std::str::FromStr;
    nix::sys::signal::Signal::from_str(&name).map(|s| s as i32).map_err(|_| Error::InvalidSignal(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("kill").unwrap(), 9);
        assert_eq!(parse_signal("2").unwrap(), 2);
        assert_eq!(parse_signal("0").unwrap_err().to_string(), "invalid signal: 0");
        assert_eq!(parse_signal("SIGNOPE").unwrap_err().to_string(), "invalid signal: SIGNOPE");
    }
}
