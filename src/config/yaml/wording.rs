//! serde's words for what it expected and found, in the config's own terms: an operator reads
//! "expected true or false, found `maybe`", never "invalid type: string, expected a boolean".

use serde::de::Unexpected;

/// What a visitor expected, as YAML would call it.
pub fn expected(exp: &str) -> String {
    match exp {
        "a boolean" => "true or false".into(),
        "a string" | "string" | "a borrowed string" | "a character" => "text".into(),
        "a sequence" | "a vector" | "sequence" => "a list".into(),
        "a map" | "a mapping" | "map" => "a section of `key: value` lines".into(),
        "u8" => "a whole number from 0 to 255".into(),
        "u16" => "a whole number from 0 to 65535".into(),
        "u32" | "u64" | "usize" => "a whole number, 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "unit" | "unit value" => "nothing".into(),
        "any valid JSON value" | "any value" => "a value".into(),
        e if e.starts_with("struct ") || e.starts_with("a map of") => {
            "a section of `key: value` lines".into()
        }
        e if e.starts_with("option") => "a value".into(),
        e if e.starts_with("variant identifier") || e.starts_with("enum ") => {
            "one of the names".into()
        }
        e if e.starts_with("tuple") || e.starts_with("an array") => "a list".into(),
        e => e.to_string(),
    }
}

/// What was found instead, as the file shows it.
pub fn found(unexp: &Unexpected<'_>) -> String {
    match unexp {
        Unexpected::Bool(b) => format!("`{b}`"),
        Unexpected::Unsigned(n) => format!("the number {n}"),
        Unexpected::Signed(n) => format!("the number {n}"),
        Unexpected::Float(f) => format!("the number {f}"),
        Unexpected::Char(c) => format!("`{c}`"),
        Unexpected::Str(s) => format!("`{s}`"),
        Unexpected::Unit | Unexpected::Option => "nothing".into(),
        Unexpected::Seq => "a list".into(),
        Unexpected::Map | Unexpected::StructVariant => "a section of `key: value` lines".into(),
        Unexpected::Bytes(_) => "bytes".into(),
        Unexpected::NewtypeStruct | Unexpected::NewtypeVariant => "a value".into(),
        Unexpected::UnitVariant | Unexpected::TupleVariant | Unexpected::Enum => "a name".into(),
        Unexpected::Other(o) => (*o).to_string(),
    }
}

pub fn invalid(unexp: &Unexpected<'_>, exp: &str) -> String {
    format!("expected {}, found {}", expected(exp), found(unexp))
}

/// A custom message from a type's own `Deserialize` (a duration, a grant type) already speaks
/// the config's language; serde's few stock phrases do not.
pub fn custom(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        return rest.replacen(", expected ", " where the file should have ", 1);
    }
    msg.to_string()
}

/// `a, b or c`, each in backticks.
pub fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        None => "nothing".into(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The message for a key a section does not have, with the likeliest key meant.
pub fn unknown_key(name: &str, known: &[&str]) -> String {
    match suggest(name, known) {
        Some(s) => format!("unknown key `{name}`; did you mean `{s}`?"),
        None if known.is_empty() => format!("unknown key `{name}`: this section takes no keys"),
        None => format!("unknown key `{name}`; this section takes {}", one_of(known)),
    }
}

/// The known name closest to `name`, when one is close enough to be a slip of the keyboard
/// or of case (`enablePaswordDB`, `redirectUris`).
pub fn suggest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let lower = name.to_ascii_lowercase();
    if let Some(k) = known.iter().find(|k| k.to_ascii_lowercase() == lower) {
        return Some(k);
    }
    known
        .iter()
        .map(|k| {
            (
                k,
                strsim::damerau_levenshtein(&lower, &k.to_ascii_lowercase()),
            )
        })
        .filter(|(k, d)| *d <= 2.max(k.len() / 5) && *d < k.len().max(2) / 2 + 1)
        .min_by_key(|(_, d)| *d)
        .map(|(k, _)| *k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slips_get_a_suggestion_and_strangers_get_the_list() {
        let known = [
            "enablePasswordDB",
            "staticPasswords",
            "staticClients",
            "issuer",
        ];
        assert_eq!(suggest("enablePaswordDB", &known), Some("enablePasswordDB"));
        assert_eq!(
            suggest("EnablePasswordDb", &known),
            Some("enablePasswordDB")
        );
        assert_eq!(suggest("staticClient", &known), Some("staticClients"));
        assert_eq!(suggest("isuer", &known), Some("issuer"));
        assert_eq!(suggest("grpc", &known), None);
        assert_eq!(suggest("ab", &["id", "name"]), None);
        assert_eq!(
            unknown_key("htps", &["http", "https"]),
            "unknown key `htps`; did you mean `https`?"
        );
        assert_eq!(
            unknown_key("zzz", &["a", "b", "c"]),
            "unknown key `zzz`; this section takes `a`, `b` or `c`"
        );
    }

    #[test]
    fn serde_words_become_the_files_words() {
        assert_eq!(
            invalid(&Unexpected::Str("maybe"), "a boolean"),
            "expected true or false, found `maybe`"
        );
        assert_eq!(
            invalid(&Unexpected::Unit, "struct WebConfig"),
            "expected a section of `key: value` lines, found nothing"
        );
        assert_eq!(
            invalid(&Unexpected::Seq, "u16"),
            "expected a whole number from 0 to 65535, found a list"
        );
    }
}
