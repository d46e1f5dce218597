use std::fmt;

#[derive(Debug, Clone)]
pub enum ProducerError {
    MixedAppendTypes,
    StaleEpoch { server_epoch: u64, our_epoch: u64 },
    SequenceGap { expected: u64, received: u64 },
    Stream { message: String },
}

impl fmt::Display for ProducerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl From<reqwest::Error> for ProducerError {
    fn from(e: reqwest::Error) -> Self {
        ProducerError::Stream { message: e.to_string() }
    }
}

#[derive(Debug, Clone)]
pub struct StreamError(String);

impl StreamError {
    pub fn from_status(status: u16, url: &str) -> StreamError {
        StreamError(format!("{url}: status {status}"))
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
