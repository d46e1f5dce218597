//! How each language spells the SDK's options, so a validation error names the option
//! the caller actually wrote (`backoff_max` in Python, `backoffMaxMs` in Node).
//!
//! The core names options in `camelCase` with a unit suffix (`lingerMs`); that is also
//! the spelling of Node, Kotlin and Swift. The table below gives the `snake_case`
//! names of Python (durations in seconds, no unit suffix) and Elixir (durations in
//! milliseconds, the seed client's names).

/// A binding's spelling of option names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// Node, Kotlin, Swift: `backoffMaxMs`.
    Camel,
    /// Python: `backoff_max`, durations in seconds.
    SnakeSeconds,
    /// Elixir: `backoff_max`, durations in milliseconds.
    SnakeMs,
}

/// `(core / camelCase name, Python name, Elixir name)`.
const NAMES: &[(&str, &str, &str)] = &[
    ("backoffBaseMs", "backoff_base", "backoff_base"),
    ("backoffMaxMs", "backoff_max", "backoff_max"),
    ("baseUrl", "base_url", "base_url"),
    ("bufferLimitBytes", "buffer_limit_bytes", "buffer_limit_bytes"),
    ("connectTimeoutMs", "connect_timeout", "connect_timeout"),
    ("contentType", "content_type", "content_type"),
    ("deliveryTimeoutMs", "delivery_timeout", "delivery_timeout"),
    ("expiresAt", "expires_at", "expires_at"),
    ("forkedFrom", "fork_from", "fork_from"),
    ("initialDelayMs", "initial_delay", "initial_delay"),
    ("liveIdleTimeoutMs", "live_idle_timeout", "live_idle_timeout"),
    ("lingerMs", "linger", "linger_ms"),
    ("maxBatchBytes", "max_batch_bytes", "max_batch_bytes"),
    ("maxBatchItems", "max_batch_items", "max_batch_size"),
    ("maxChunkBytes", "max_chunk_bytes", "max_chunk_bytes"),
    ("maxDelayMs", "max_delay", "max_delay"),
    ("maxInFlight", "max_in_flight", "max_in_flight"),
    ("maxRetries", "max_retries", "max_retries"),
    ("poolIdleTimeoutMs", "pool_idle_timeout", "pool_idle_timeout"),
    ("producerId", "producer_id", "producer_id"),
    ("producerEpoch", "producer_epoch", "producer_epoch"),
    ("producerSeq", "producer_seq", "producer_seq"),
    ("requestTimeoutMs", "request_timeout", "request_timeout"),
    ("ttlSeconds", "ttl_seconds", "ttl_seconds"),
    ("appendRetry", "append_retry", "append_retry"),
    ("autoClaim", "auto_claim", "auto_claim"),
    ("timeoutMs", "timeout", "timeout"),
    ("live", "live", "live"),
];

impl Naming {
    /// The caller's name for the core's option name `field` (unknown names pass through).
    pub fn spell<'a>(self, field: &'a str) -> &'a str {
        if self == Naming::Camel {
            return field;
        }
        match NAMES.iter().find(|(camel, ..)| *camel == field) {
            Some((_, py, _)) if self == Naming::SnakeSeconds => py,
            Some((_, _, ex)) => ex,
            None => field,
        }
    }

    /// `message` with every option name in it respelled (whole words only).
    pub fn rewrite(self, message: &str) -> String {
        if self == Naming::Camel {
            return message.to_string();
        }
        let mut out = String::with_capacity(message.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            out.push_str(self.spell(word));
            word.clear();
        };
        for ch in message.chars() {
            if ch.is_ascii_alphanumeric() || ch == '_' {
                word.push(ch);
            } else {
                flush(&mut word, &mut out);
                out.push(ch);
            }
        }
        flush(&mut word, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Naming;

    #[test]
    fn options_are_named_as_the_caller_wrote_them() {
        let msg = "invalid backoffMaxMs: must be >= backoffBaseMs";
        assert_eq!(Naming::SnakeSeconds.rewrite(msg), "invalid backoff_max: must be >= backoff_base");
        assert_eq!(Naming::Camel.rewrite(msg), msg);
        assert_eq!(Naming::SnakeMs.spell("lingerMs"), "linger_ms");
        assert_eq!(Naming::SnakeMs.spell("maxBatchItems"), "max_batch_size");
        assert_eq!(Naming::SnakeSeconds.spell("lingerMs"), "linger");
        // Words that merely contain an option name are left alone.
        assert_eq!(Naming::SnakeSeconds.rewrite("xlingerMs, lingerMs2"), "xlingerMs, lingerMs2");
    }
}
