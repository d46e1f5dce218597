//! JSON ↔ Elixir terms, so the binding needs no JSON library (Elixir 1.14 has none).
//! Objects become maps with string keys, `null` becomes `nil`.

use rustler::{Binary, Encoder, Env, Term, TermType};
use serde_json::{Map, Number, Value};

use crate::atoms;
use crate::convert::atom;

/// `{:ok, term}` or `{:error, message}`.
pub fn decode<'a>(env: Env<'a>, text: &[u8]) -> Term<'a> {
    match serde_json::from_slice::<Value>(text) {
        Ok(v) => (atoms::ok(), to_term(env, &v)).encode(env),
        Err(e) => (atoms::error(), e.to_string()).encode(env),
    }
}

/// One message's JSON text as a term (the core has validated it already).
pub fn value_term<'a>(env: Env<'a>, text: &[u8]) -> Term<'a> {
    match serde_json::from_slice::<Value>(text) {
        Ok(v) => to_term(env, &v),
        Err(_) => atom(env, "nil"),
    }
}

fn to_term<'a>(env: Env<'a>, v: &Value) -> Term<'a> {
    match v {
        Value::Null => atom(env, "nil"),
        Value::Bool(b) => b.encode(env),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.encode(env),
            (_, Some(u)) => u.encode(env),
            _ => n.as_f64().unwrap_or(0.0).encode(env),
        },
        Value::String(s) => s.encode(env),
        Value::Array(a) => a.iter().map(|x| to_term(env, x)).collect::<Vec<_>>().encode(env),
        Value::Object(o) => {
            let pairs: Vec<(Term, Term)> = o.iter().map(|(k, x)| (k.encode(env), to_term(env, x))).collect();
            // Duplicate keys were already merged by serde_json.
            Term::map_from_pairs(env, &pairs).unwrap_or_else(|_| atom(env, "nil"))
        }
    }
}

/// `{:ok, json_text}` or `{:error, message}` for a term that has no JSON form.
pub fn encode<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    match from_term(term) {
        Ok(v) => (atoms::ok(), v.to_string()).encode(env),
        Err(e) => (atoms::error(), e).encode(env),
    }
}

fn from_term(t: Term) -> Result<Value, String> {
    Ok(match t.get_type() {
        TermType::Atom => match t.atom_to_string().map_err(|_| "bad atom")?.as_str() {
            "nil" => Value::Null,
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => Value::String(other.to_string()),
        },
        TermType::Binary => {
            let b = Binary::from_term(t).map_err(|_| "bad binary")?;
            Value::String(std::str::from_utf8(b.as_slice()).map_err(|_| "binary is not UTF-8 text")?.to_string())
        }
        TermType::Integer => match t.decode::<i64>() {
            Ok(i) => Value::from(i),
            Err(_) => Value::from(t.decode::<u64>().map_err(|_| "integer out of range")?),
        },
        TermType::Float => Number::from_f64(t.decode::<f64>().map_err(|_| "bad float")?).map(Value::Number).ok_or("NaN")?,
        TermType::List => Value::Array(
            t.decode::<Vec<Term>>().map_err(|_| "improper list")?.into_iter().map(from_term).collect::<Result<_, _>>()?,
        ),
        TermType::Map => {
            let mut m = Map::new();
            for (k, v) in rustler::types::map::MapIterator::new(t).ok_or("bad map")? {
                let key = match from_term(k)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                m.insert(key, from_term(v)?);
            }
            Value::Object(m)
        }
        other => return Err(format!("{other:?} has no JSON form")),
    })
}
