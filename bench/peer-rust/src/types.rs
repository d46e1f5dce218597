/// The offsets the producer reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offset {
    Beginning,
    At(String),
}

impl Offset {
    pub fn parse(s: &str) -> Offset {
        if s == "-1" { Offset::Beginning } else { Offset::At(s.to_string()) }
    }
}
