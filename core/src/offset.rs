//! Stream offsets: opaque, server-issued position tokens.
//!
//! The client never builds or parses an offset; it only stores and forwards
//! what the server gave it. The only local check rejects tokens the protocol
//! says can never be valid (empty, or containing `, & = ? /`, whitespace or
//! control characters), so that obviously broken input fails before any I/O
//! while anything plausible is left for the server to judge.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};

/// Longest token accepted locally; real offsets are far shorter (the protocol suggests < 256).
const MAX_OFFSET_LEN: usize = 4096;

/// An opaque position in a stream. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Offset(Arc<str>);

impl Offset {
    /// The sentinel for "from the beginning of the stream" (`-1`).
    pub fn beginning() -> Offset {
        Offset(Arc::from("-1"))
    }

    /// The sentinel for "from the current tail, skipping history" (`now`).
    pub fn now() -> Offset {
        Offset(Arc::from("now"))
    }

    /// Validate a caller-supplied token (e.g. one persisted from an earlier read).
    pub fn parse(token: &str) -> Result<Offset> {
        if token.is_empty() {
            return Err(Error::invalid_argument("offset", "must not be empty"));
        }
        if token.len() > MAX_OFFSET_LEN {
            return Err(Error::invalid_argument("offset", format!("longer than {MAX_OFFSET_LEN} bytes")));
        }
        if let Some(c) = token
            .chars()
            .find(|c| matches!(c, ',' | '&' | '=' | '?' | '/') || c.is_whitespace() || c.is_control())
        {
            return Err(Error::invalid_argument("offset", format!("contains forbidden character {c:?}")));
        }
        Ok(Offset(Arc::from(token)))
    }

    /// An offset taken verbatim from a server response header or control event.
    pub(crate) fn from_server(token: &str) -> Result<Offset> {
        Offset::parse(token)
            .map_err(|e| Error::malformed(format!("server sent an unusable offset {token:?}: {e}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_beginning(&self) -> bool {
        &*self.0 == "-1"
    }

    pub fn is_now(&self) -> bool {
        &*self.0 == "now"
    }

    /// Sentinels are request-only values; the server never returns them.
    pub fn is_sentinel(&self) -> bool {
        self.is_beginning() || self.is_now()
    }
}

impl Default for Offset {
    fn default() -> Self {
        Offset::beginning()
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Offset({:?})", &*self.0)
    }
}

impl std::str::FromStr for Offset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Offset> {
        Offset::parse(s)
    }
}

impl AsRef<str> for Offset {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sentinels() {
        assert!(Offset::beginning().is_beginning());
        assert!(Offset::now().is_now());
        assert_eq!(Offset::parse("-1").unwrap(), Offset::beginning());
        assert_eq!(Offset::default(), Offset::beginning());
    }

    #[test]
    fn rejects_impossible_tokens() {
        for bad in ["", "a,b", "a&b", "a=b", "a?b", "a/b", "a b", "a\nb", "\u{0}"] {
            let err = Offset::parse(bad).unwrap_err();
            assert_eq!(err.code(), "INVALID_ARGUMENT", "{bad:?}");
        }
        assert!(Offset::parse(&"9".repeat(MAX_OFFSET_LEN + 1)).is_err());
    }

    #[test]
    fn keeps_plausible_tokens_verbatim() {
        for ok in ["0000000000000000_0000000000000000", "not-a-valid-offset-format", "abc%20"] {
            assert_eq!(Offset::parse(ok).unwrap().as_str(), ok);
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in any::<String>()) {
            if let Ok(o) = Offset::parse(&s) {
                prop_assert_eq!(o.as_str(), s.as_str());
            }
        }

        #[test]
        fn server_offsets_order_lexicographically(a in "[0-9]{16}_[0-9]{16}", b in "[0-9]{16}_[0-9]{16}") {
            let (oa, ob) = (Offset::parse(&a).unwrap(), Offset::parse(&b).unwrap());
            prop_assert_eq!(oa.cmp(&ob), a.cmp(&b));
        }
    }
}
