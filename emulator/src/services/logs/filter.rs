//! CloudWatch Logs filter patterns (FilterLogEvents): a pure parser and
//! matcher for the common syntax.
//!
//! - `""`: every event;
//! - terms: `ERROR Exception` (all present), `"quoted phrase"`,
//!   `?ERROR ?WARN` (at least one of the `?` terms), `-DEBUG` (absent);
//!   terms match case-sensitively anywhere in the message;
//! - JSON: `{ $.level = "error" }`, `{ $.latency > 100 }`, `&&`, `||`,
//!   parentheses, `!=`, `*` wildcards in strings, `IS TRUE|FALSE|NULL`,
//!   `NOT EXISTS`, `EXISTS`, array indexes `$.a[0]`; a message that is not a
//!   JSON object matches no JSON pattern;
//! - regular expressions between `%`: `%ERR(OR)?%` is a search anywhere.
//!
//! Space-delimited patterns (`[ip, user, ...]`) are refused with an
//! `InvalidParameterException` rather than matched wrongly.

use serde_json::Value;

/// A parsed filter pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    All,
    Terms(Terms),
    Json(Expr),
    Regex(regex::Regex),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Terms {
    pub required: Vec<String>,
    pub any: Vec<String>,
    pub excluded: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(Path, Op, Literal),
    Is(Path, IsWhat),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Num(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IsWhat {
    True,
    False,
    Null,
    Exists,
    NotExists,
}

/// `$.a.b[0].c` as steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Path(pub Vec<Step>);

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
}

impl Pattern {
    /// Parses a pattern; the error is the message of the
    /// InvalidParameterException AWS answers with.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let t = text.trim();
        if t.is_empty() || t == "\"\"" {
            return Ok(Pattern::All);
        }
        let invalid = || "Invalid filter pattern".to_string();
        if t.starts_with('{') {
            let inner = t
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .ok_or_else(invalid)?;
            let mut p = JsonParser {
                s: inner.as_bytes(),
                i: 0,
            };
            let e = p.or().map_err(|_| invalid())?;
            p.ws();
            if p.i != p.s.len() {
                return Err(invalid());
            }
            return Ok(Pattern::Json(e));
        }
        if t.starts_with('[') {
            return Err(
                "fargate-local does not support space-delimited filter patterns ([field, ...]) yet."
                    .into(),
            );
        }
        if t.len() >= 2 && t.starts_with('%') && t.ends_with('%') {
            let re = regex::Regex::new(&t[1..t.len() - 1]).map_err(|_| invalid())?;
            return Ok(Pattern::Regex(re));
        }
        parse_terms(t).map(Pattern::Terms).ok_or_else(invalid)
    }

    pub fn matches(&self, message: &str) -> bool {
        match self {
            Pattern::All => true,
            Pattern::Terms(t) => {
                t.required.iter().all(|w| message.contains(w.as_str()))
                    && !t.excluded.iter().any(|w| message.contains(w.as_str()))
                    && (t.any.is_empty() || t.any.iter().any(|w| message.contains(w.as_str())))
            }
            Pattern::Regex(re) => re.is_match(message),
            Pattern::Json(e) => match serde_json::from_str::<Value>(message) {
                Ok(v @ Value::Object(_)) => eval(e, &v),
                _ => false,
            },
        }
    }
}

fn parse_terms(t: &str) -> Option<Terms> {
    let mut out = Terms::default();
    let chars: Vec<char> = t.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let kind = match chars[i] {
            '?' => {
                i += 1;
                1
            }
            '-' => {
                i += 1;
                2
            }
            _ => 0,
        };
        let mut word = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i)? {
                    '\\' => {
                        word.push(*chars.get(i + 1)?);
                        i += 2;
                    }
                    '"' => {
                        i += 1;
                        break;
                    }
                    c => {
                        word.push(*c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < chars.len() && !chars[i].is_whitespace() {
                word.push(chars[i]);
                i += 1;
            }
        }
        if word.is_empty() {
            continue;
        }
        match kind {
            1 => out.any.push(word),
            2 => out.excluded.push(word),
            _ => out.required.push(word),
        }
    }
    Some(out)
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

type PResult<T> = Result<T, ()>;

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.s[self.i..].starts_with(tok.as_bytes()) {
            self.i += tok.len();
            true
        } else {
            false
        }
    }

    /// A keyword, case-insensitive, followed by a non-word character.
    fn keyword(&mut self, kw: &str) -> bool {
        self.ws();
        let end = self.i + kw.len();
        if end <= self.s.len()
            && self.s[self.i..end].eq_ignore_ascii_case(kw.as_bytes())
            && self
                .s
                .get(end)
                .is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'_')
        {
            self.i = end;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> PResult<Expr> {
        let mut left = self.and()?;
        while self.eat("||") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> PResult<Expr> {
        let mut left = self.atom()?;
        while self.eat("&&") {
            let right = self.atom()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn atom(&mut self) -> PResult<Expr> {
        if self.eat("(") {
            let e = self.or()?;
            return if self.eat(")") { Ok(e) } else { Err(()) };
        }
        let path = self.path()?;
        if self.keyword("IS") {
            let what = if self.keyword("TRUE") {
                IsWhat::True
            } else if self.keyword("FALSE") {
                IsWhat::False
            } else if self.keyword("NULL") {
                IsWhat::Null
            } else {
                return Err(());
            };
            return Ok(Expr::Is(path, what));
        }
        if self.keyword("NOT") {
            return if self.keyword("EXISTS") {
                Ok(Expr::Is(path, IsWhat::NotExists))
            } else {
                Err(())
            };
        }
        if self.keyword("EXISTS") {
            return Ok(Expr::Is(path, IsWhat::Exists));
        }
        let op = if self.eat("!=") {
            Op::Ne
        } else if self.eat(">=") {
            Op::Ge
        } else if self.eat("<=") {
            Op::Le
        } else if self.eat("=") {
            Op::Eq
        } else if self.eat(">") {
            Op::Gt
        } else if self.eat("<") {
            Op::Lt
        } else {
            return Err(());
        };
        let lit = self.literal()?;
        if matches!(lit, Literal::Str(_)) && !matches!(op, Op::Eq | Op::Ne) {
            return Err(());
        }
        Ok(Expr::Cmp(path, op, lit))
    }

    fn path(&mut self) -> PResult<Path> {
        self.ws();
        if !self.eat("$") {
            return Err(());
        }
        let mut steps = Vec::new();
        loop {
            if self.s.get(self.i) == Some(&b'.') {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_alphanumeric()
                        || matches!(self.s[self.i], b'_' | b'-' | b'@' | b'$'))
                {
                    self.i += 1;
                }
                if start == self.i {
                    return Err(());
                }
                let key = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| ())?;
                steps.push(Step::Key(key.to_string()));
            } else if self.s.get(self.i) == Some(&b'[') {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                let n = std::str::from_utf8(&self.s[start..self.i])
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .ok_or(())?;
                if self.s.get(self.i) != Some(&b']') {
                    return Err(());
                }
                self.i += 1;
                steps.push(Step::Index(n));
            } else {
                break;
            }
        }
        if steps.is_empty() {
            return Err(());
        }
        Ok(Path(steps))
    }

    fn literal(&mut self) -> PResult<Literal> {
        self.ws();
        if self.s.get(self.i) == Some(&b'"') {
            self.i += 1;
            let mut out = Vec::new();
            loop {
                match self.s.get(self.i) {
                    None => return Err(()),
                    Some(b'\\') => {
                        out.push(*self.s.get(self.i + 1).ok_or(())?);
                        self.i += 2;
                    }
                    Some(b'"') => {
                        self.i += 1;
                        break;
                    }
                    Some(c) => {
                        out.push(*c);
                        self.i += 1;
                    }
                }
            }
            return String::from_utf8(out).map(Literal::Str).map_err(|_| ());
        }
        let start = self.i;
        while self.i < self.s.len()
            && !self.s[self.i].is_ascii_whitespace()
            && !matches!(self.s[self.i], b')' | b'&' | b'|')
        {
            self.i += 1;
        }
        let word = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| ())?;
        if word.is_empty() {
            return Err(());
        }
        Ok(match word.parse::<f64>() {
            Ok(n) => Literal::Num(n),
            Err(_) => Literal::Str(word.to_string()),
        })
    }
}

fn lookup<'v>(v: &'v Value, path: &Path) -> Option<&'v Value> {
    let mut cur = v;
    for step in &path.0 {
        cur = match step {
            Step::Key(k) => cur.as_object()?.get(k)?,
            Step::Index(i) => cur.as_array()?.get(*i)?,
        };
    }
    Some(cur)
}

/// `*` matches any run of characters.
fn wildcard(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == text;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (n, part) in parts.iter().enumerate() {
        if n == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if n == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

fn eval(e: &Expr, v: &Value) -> bool {
    match e {
        Expr::And(a, b) => eval(a, v) && eval(b, v),
        Expr::Or(a, b) => eval(a, v) || eval(b, v),
        Expr::Is(path, what) => {
            let got = lookup(v, path);
            match what {
                IsWhat::True => got == Some(&Value::Bool(true)),
                IsWhat::False => got == Some(&Value::Bool(false)),
                IsWhat::Null => got == Some(&Value::Null),
                IsWhat::Exists => got.is_some(),
                IsWhat::NotExists => got.is_none(),
            }
        }
        Expr::Cmp(path, op, lit) => {
            let Some(got) = lookup(v, path) else {
                return false;
            };
            match lit {
                Literal::Str(s) => {
                    let text = match got {
                        Value::String(t) => t.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return false,
                    };
                    let eq = wildcard(s, &text);
                    if *op == Op::Eq { eq } else { !eq }
                }
                Literal::Num(n) => {
                    let x = match got {
                        Value::Number(x) => x.as_f64(),
                        Value::String(t) => t.parse::<f64>().ok(),
                        _ => None,
                    };
                    let Some(x) = x else { return false };
                    match op {
                        Op::Eq => x == *n,
                        Op::Ne => x != *n,
                        Op::Lt => x < *n,
                        Op::Le => x <= *n,
                        Op::Gt => x > *n,
                        Op::Ge => x >= *n,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, cases: &[(&str, bool)]) {
        let p = Pattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        for (msg, want) in cases {
            assert_eq!(p.matches(msg), *want, "pattern {pattern:?} on {msg:?}");
        }
    }

    #[test]
    fn terms() {
        check("", &[("anything", true)]);
        check("ERROR", &[("[ERROR] boom", true), ("error", false)]);
        check(
            "ERROR Exception",
            &[("ERROR: Exception", true), ("ERROR only", false)],
        );
        check(
            "\"Failed to connect\"",
            &[("x Failed to connect y", true), ("Failed connect", false)],
        );
        check(
            "?ERROR ?WARN",
            &[("WARN a", true), ("ERROR b", true), ("INFO c", false)],
        );
        check(
            "ERROR -timeout",
            &[
                ("ERROR db", true),
                ("ERROR timeout", false),
                ("INFO", false),
            ],
        );
        check(
            "\"say \\\"hi\\\"\"",
            &[("they say \"hi\" now", true), ("say hi", false)],
        );
    }

    #[test]
    fn json() {
        let req = r#"{"level":"error","latency":250,"path":"/health","ok":true,"n":null,"tags":["a","b"],"user":{"id":"42"}}"#;
        let cases = [
            ("{ $.level = \"error\" }", true),
            ("{ $.level = error }", true),
            ("{ $.level != \"error\" }", false),
            ("{ $.level = \"err*\" }", true),
            ("{ $.latency > 100 }", true),
            ("{ $.latency <= 100 }", false),
            ("{ $.latency = 250 && $.path = \"/health\" }", true),
            ("{ $.latency < 10 || $.path = \"/h*\" }", true),
            ("{ ($.latency < 10 || $.ok IS TRUE) && $.n IS NULL }", true),
            ("{ $.missing NOT EXISTS }", true),
            ("{ $.user.id = 42 }", true),
            ("{ $.user.id = \"42\" }", true),
            ("{ $.tags[1] = \"b\" }", true),
            ("{ $.missing = \"x\" }", false),
            ("{ $.ok IS FALSE }", false),
        ];
        for (p, want) in cases {
            check(p, &[(req, want), ("not json ERROR", false)]);
        }
    }

    #[test]
    fn regex_and_refusals() {
        check("%ERR(OR)?%", &[("an ERR here", true), ("err", false)]);
        for bad in [
            "{ $.a = }",
            "{ level = 1 }",
            "{ $.a > \"x\" }",
            "{ $.a = 1",
            "[ip, user]",
            "%(%",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }
}
