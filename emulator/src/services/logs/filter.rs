//! CloudWatch Logs filter patterns (FilterLogEvents): a pure parser and
//! matcher for AWS's syntax ("Filter pattern syntax" in the CloudWatch Logs
//! user guide).
//!
//! - `""` or nothing: every event;
//! - terms: `ERROR Exception` (all present), `"quoted phrase"`,
//!   `?ERROR ?WARN` (at least one of the `?` terms), `-DEBUG` (absent; a
//!   lone `-` or `?` applies to the next term, as in `"ERROR" - "Exiting"`);
//!   terms match case-sensitively anywhere in the message (`ERROR` matches
//!   `ERRORCODE`); an unquoted term may hold only letters, digits and `_`
//!   (AWS: anything else must be quoted), so `user@example.com` is refused;
//! - JSON: `{ $.level = "error" }`, `{ $.latency > 100 }`, `&&`, `||`,
//!   parentheses, `!=`, `*` wildcards in strings, `%regex%` values,
//!   `IS TRUE|FALSE|NULL`, `NOT EXISTS`, `EXISTS`, array indexes `$.a[0]`; a
//!   message that is not a JSON object matches no JSON pattern;
//! - space-delimited: `[ip, user, ..., status_code = 4*, bytes > 1000]`:
//!   the message splits on spaces, text within `[...]` or `"..."` is one
//!   field (without its brackets or quotes); `...` stands for any number of
//!   fields, otherwise the field counts must agree; a field may carry
//!   conditions joined by `&&`/`||` on any named field of the pattern;
//! - regular expressions between `%`: `%ERR[0-9]+%` is a search anywhere;
//!   AWS's subset only: letters, digits, `_#=@/;,-:` and the operators
//!   `^$?[]{}|\*+.`; no `(`/`)`, no spaces, no multi-byte characters, and
//!   at most 2 regular expressions inside a JSON or space-delimited pattern.
//!
//! Anything else is refused with the InvalidParameterException message AWS
//! sends (`Invalid filter pattern`, with the offending term where AWS names
//! it), never matched loosely.

use serde_json::Value;

/// A parsed filter pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    All,
    Terms(Terms),
    Json(Expr),
    Regex(regex::Regex),
    Delimited(Delimited),
}

/// A space-delimited pattern: its fields in order, and the condition over
/// the named ones (None: no condition).
#[derive(Debug, Clone)]
pub struct Delimited {
    pub fields: Vec<Field>,
    pub condition: Option<Cond>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// `...`: any number of fields.
    Any,
    /// One field, named (`ip`) or not (an empty slot, as in `[a,,b]`).
    One(Option<String>),
}

/// Conditions of a space-delimited pattern, on field names.
#[derive(Debug, Clone)]
pub enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Cmp(String, Op, Literal),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Terms {
    pub required: Vec<String>,
    pub any: Vec<String>,
    pub excluded: Vec<String>,
}

#[derive(Debug, Clone)]
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

#[derive(Debug, Clone)]
pub enum Literal {
    Str(String),
    Num(f64),
    Regex(regex::Regex),
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

/// The message of AWS's InvalidParameterException for a pattern it cannot
/// parse.
pub const INVALID: &str = "Invalid filter pattern";

fn invalid() -> String {
    INVALID.to_string()
}

/// At most this many `%regex%` inside one JSON or space-delimited pattern.
const MAX_REGEX: usize = 2;

impl Pattern {
    /// Parses a pattern; the error is the message of the
    /// InvalidParameterException AWS answers with.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let t = text.trim();
        if t.is_empty() || t == "\"\"" {
            return Ok(Pattern::All);
        }
        if t.starts_with('{') {
            let inner = t
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .ok_or_else(|| {
                    "If a filter pattern starts with '{' it must end with '}'".to_string()
                })?;
            let mut p = JsonParser {
                s: inner.as_bytes(),
                i: 0,
                regexes: 0,
            };
            let e = p.or().map_err(|_| invalid())?;
            p.ws();
            if p.i != p.s.len() {
                return Err(invalid());
            }
            return Ok(Pattern::Json(e));
        }
        if t.starts_with('[') {
            let inner = t
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .ok_or_else(invalid)?;
            return parse_delimited(inner).map(Pattern::Delimited);
        }
        if t.len() >= 2 && t.starts_with('%') && t.ends_with('%') {
            return regex_of(&t[1..t.len() - 1]).map(Pattern::Regex);
        }
        parse_terms(t).map(Pattern::Terms)
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
            Pattern::Delimited(d) => d.matches(message),
        }
    }
}

/// A `%regex%` body in AWS's subset, compiled.
fn regex_of(body: &str) -> Result<regex::Regex, String> {
    let allowed = |c: char| {
        c.is_ascii_alphanumeric() || "_#=@/;,-:".contains(c) || "^$?[]{}|\\*+.".contains(c)
    };
    if body.is_empty() || !body.chars().all(allowed) {
        return Err(invalid());
    }
    regex::Regex::new(body).map_err(|_| invalid())
}

/// A term AWS takes unquoted: letters, digits and `_`.
fn plain_term(word: &str) -> bool {
    word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn bad_term(word: &str) -> String {
    format!("{INVALID}: Invalid character(s) in term '{word}'")
}

fn parse_terms(t: &str) -> Result<Terms, String> {
    let mut out = Terms::default();
    let chars: Vec<char> = t.chars().collect();
    let mut i = 0;
    // The `?` or `-` waiting for its term (`- "Exiting"`).
    let mut kind = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        match chars[i] {
            '?' | '-' if kind == 0 => {
                kind = if chars[i] == '?' { 1 } else { 2 };
                i += 1;
                continue;
            }
            _ => {}
        }
        let mut word = String::new();
        if chars[i] == '"' {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(invalid()),
                    Some('\\') => {
                        word.push(*chars.get(i + 1).ok_or_else(invalid)?);
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        word.push(*c);
                        i += 1;
                    }
                }
            }
            if chars.get(i).is_some_and(|c| !c.is_whitespace()) {
                return Err(invalid());
            }
        } else {
            while i < chars.len() && !chars[i].is_whitespace() {
                word.push(chars[i]);
                i += 1;
            }
            if !plain_term(&word) {
                return Err(bad_term(&word));
            }
        }
        match std::mem::take(&mut kind) {
            _ if word.is_empty() => {}
            1 => out.any.push(word),
            2 => out.excluded.push(word),
            _ => out.required.push(word),
        }
    }
    if kind != 0 {
        return Err(invalid());
    }
    Ok(out)
}

// ------------------------------------------------------------- space-delimited

/// Splits `inner` (the text between `[` and `]`) on top-level commas: not
/// inside quotes or a `%regex%`.
fn split_fields(inner: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let (mut start, mut quote, mut regex) = (0, false, false);
    let b = inner.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if quote => i += 1,
            b'"' if !regex => quote = !quote,
            b'%' if !quote => regex = !regex,
            b',' if !quote && !regex => {
                out.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if quote || regex {
        return Err(invalid());
    }
    out.push(&inner[start..]);
    Ok(out)
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

fn parse_delimited(inner: &str) -> Result<Delimited, String> {
    let mut fields = Vec::new();
    let mut conds: Vec<Cond> = Vec::new();
    let mut regexes = 0;
    for raw in split_fields(inner)? {
        let f = raw.trim();
        if f == "..." {
            // `..., ...` covers what one `...` covers; merged, they cannot
            // multiply the ways an event is tried.
            if !matches!(fields.last(), Some(Field::Any)) {
                fields.push(Field::Any);
            }
        } else if f.is_empty() {
            fields.push(Field::One(None));
        } else if is_name(f) {
            fields.push(Field::One(Some(f.to_string())));
        } else {
            let mut p = CondParser {
                s: f.as_bytes(),
                i: 0,
                first: None,
                regexes: 0,
            };
            let c = p.or().map_err(|_| invalid())?;
            p.ws();
            if p.i != p.s.len() {
                return Err(invalid());
            }
            regexes += p.regexes;
            fields.push(Field::One(p.first));
            conds.push(c);
        }
    }
    if regexes > MAX_REGEX {
        return Err(invalid());
    }
    let named: Vec<&String> = fields
        .iter()
        .filter_map(|f| match f {
            Field::One(Some(n)) => Some(n),
            _ => None,
        })
        .collect();
    for (i, n) in named.iter().enumerate() {
        if named[..i].contains(n) {
            return Err(invalid());
        }
    }
    let mut condition: Option<Cond> = None;
    for c in conds {
        if !cond_names(&c).iter().all(|n| named.contains(n)) {
            return Err(invalid());
        }
        condition = Some(match condition {
            None => c,
            Some(prev) => Cond::And(Box::new(prev), Box::new(c)),
        });
    }
    Ok(Delimited { fields, condition })
}

fn cond_names(c: &Cond) -> Vec<&String> {
    match c {
        Cond::And(a, b) | Cond::Or(a, b) => {
            let mut v = cond_names(a);
            v.extend(cond_names(b));
            v
        }
        Cond::Cmp(n, _, _) => vec![n],
    }
}

/// The fields of a space-delimited message: runs of non-spaces, or the text
/// within `[...]` or `"..."` (an unclosed one runs to the end).
pub fn split_message(msg: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = msg.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' || b[i] == b'\t' {
            i += 1;
            continue;
        }
        let close = match b[i] {
            b'[' => Some(b']'),
            b'"' => Some(b'"'),
            _ => None,
        };
        match close {
            Some(c) => {
                let start = i + 1;
                let end = b[start..]
                    .iter()
                    .position(|x| *x == c)
                    .map_or(b.len(), |p| start + p);
                out.push(&msg[start..end]);
                i = end + 1;
            }
            None => {
                let start = i;
                while i < b.len() && b[i] != b' ' && b[i] != b'\t' {
                    i += 1;
                }
                out.push(&msg[start..i]);
            }
        }
    }
    out
}

/// The most ways one event is tried against a space-delimited pattern.
/// Several `...` fields with fields between them try polynomially many
/// alignments (a 40-word event and a dozen `...` would take hours, under
/// the caller's request); past this budget the event does not match.
const ALIGN_BUDGET: u32 = 200_000;

impl Delimited {
    fn matches(&self, message: &str) -> bool {
        let values = split_message(message);
        let mut bound: Vec<(&str, &str)> = Vec::new();
        let mut budget = ALIGN_BUDGET;
        self.align(0, &values, &mut bound, &mut budget)
    }

    /// Tries every way the fields from `at` on cover `values`; true when one
    /// of them satisfies the condition.
    fn align<'a>(
        &'a self,
        at: usize,
        values: &[&'a str],
        bound: &mut Vec<(&'a str, &'a str)>,
        budget: &mut u32,
    ) -> bool {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        let Some(field) = self.fields.get(at) else {
            return values.is_empty()
                && self.condition.as_ref().is_none_or(|c| eval_cond(c, bound));
        };
        match field {
            Field::Any => {
                (0..=values.len()).any(|n| self.align(at + 1, &values[n..], bound, budget))
            }
            Field::One(name) => {
                let Some((first, rest)) = values.split_first() else {
                    return false;
                };
                if let Some(n) = name {
                    bound.push((n.as_str(), first));
                }
                let ok = self.align(at + 1, rest, bound, budget);
                if name.is_some() {
                    bound.pop();
                }
                ok
            }
        }
    }
}

fn eval_cond(c: &Cond, bound: &[(&str, &str)]) -> bool {
    match c {
        Cond::And(a, b) => eval_cond(a, bound) && eval_cond(b, bound),
        Cond::Or(a, b) => eval_cond(a, bound) || eval_cond(b, bound),
        Cond::Cmp(name, op, lit) => {
            let Some((_, v)) = bound.iter().find(|(n, _)| n == name) else {
                return false;
            };
            compare_text(v, *op, lit)
        }
    }
}

/// A field's text against a literal: numbers numerically (a field that is
/// not a number matches no numeric condition), strings with `*` wildcards,
/// regular expressions as a search.
fn compare_text(text: &str, op: Op, lit: &Literal) -> bool {
    match lit {
        Literal::Str(s) => {
            let eq = wildcard(s, text);
            if op == Op::Eq { eq } else { !eq }
        }
        Literal::Regex(re) => {
            let m = re.is_match(text);
            if op == Op::Eq { m } else { !m }
        }
        Literal::Num(n) => match text.parse::<f64>() {
            Ok(x) => compare_num(x, op, *n),
            Err(_) => false,
        },
    }
}

fn compare_num(x: f64, op: Op, n: f64) -> bool {
    match op {
        Op::Eq => x == n,
        Op::Ne => x != n,
        Op::Lt => x < n,
        Op::Le => x <= n,
        Op::Gt => x > n,
        Op::Ge => x >= n,
    }
}

/// `name op value (&& | ||) ...` inside one field of a space-delimited
/// pattern; `first` is the name the field takes (its first comparison's).
struct CondParser<'a> {
    s: &'a [u8],
    i: usize,
    first: Option<String>,
    regexes: usize,
}

impl CondParser<'_> {
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

    fn or(&mut self) -> PResult<Cond> {
        let mut left = self.and()?;
        while self.eat("||") {
            let right = self.and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> PResult<Cond> {
        let mut left = self.cmp()?;
        while self.eat("&&") {
            let right = self.cmp()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn cmp(&mut self) -> PResult<Cond> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        let name = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| ())?;
        if !is_name(name) {
            return Err(());
        }
        let op = operator(self).ok_or(())?;
        let lit = literal(self.s, &mut self.i, &mut self.regexes)?;
        check_op(op, &lit)?;
        if self.first.is_none() {
            self.first = Some(name.to_string());
        }
        Ok(Cond::Cmp(name.to_string(), op, lit))
    }
}

trait Eat {
    fn eat_tok(&mut self, tok: &str) -> bool;
}

impl Eat for CondParser<'_> {
    fn eat_tok(&mut self, tok: &str) -> bool {
        self.eat(tok)
    }
}

impl Eat for JsonParser<'_> {
    fn eat_tok(&mut self, tok: &str) -> bool {
        self.eat(tok)
    }
}

fn operator(p: &mut impl Eat) -> Option<Op> {
    Some(if p.eat_tok("!=") {
        Op::Ne
    } else if p.eat_tok(">=") {
        Op::Ge
    } else if p.eat_tok("<=") {
        Op::Le
    } else if p.eat_tok("=") {
        Op::Eq
    } else if p.eat_tok(">") {
        Op::Gt
    } else if p.eat_tok("<") {
        Op::Lt
    } else {
        return None;
    })
}

/// Strings and regular expressions take only `=` and `!=`.
fn check_op(op: Op, lit: &Literal) -> PResult<()> {
    if matches!(lit, Literal::Num(_)) || matches!(op, Op::Eq | Op::Ne) {
        Ok(())
    } else {
        Err(())
    }
}

/// A value: `"quoted"` (with `\"` escapes), `%regex%`, or a bare word up to
/// a space, `)`, `&&` or `||` (a number when it reads as one).
fn literal(s: &[u8], i: &mut usize, regexes: &mut usize) -> PResult<Literal> {
    while *i < s.len() && s[*i].is_ascii_whitespace() {
        *i += 1;
    }
    match s.get(*i) {
        Some(b'"') => {
            *i += 1;
            let mut out = Vec::new();
            loop {
                match s.get(*i) {
                    None => return Err(()),
                    Some(b'\\') => {
                        out.push(*s.get(*i + 1).ok_or(())?);
                        *i += 2;
                    }
                    Some(b'"') => {
                        *i += 1;
                        break;
                    }
                    Some(c) => {
                        out.push(*c);
                        *i += 1;
                    }
                }
            }
            String::from_utf8(out).map(Literal::Str).map_err(|_| ())
        }
        Some(b'%') => {
            let start = *i + 1;
            let end = s[start..].iter().position(|b| *b == b'%').ok_or(())? + start;
            let body = std::str::from_utf8(&s[start..end]).map_err(|_| ())?;
            *i = end + 1;
            *regexes += 1;
            if *regexes > MAX_REGEX {
                return Err(());
            }
            regex_of(body).map(Literal::Regex).map_err(|_| ())
        }
        _ => {
            let start = *i;
            while *i < s.len()
                && !s[*i].is_ascii_whitespace()
                && !matches!(s[*i], b')')
                && !s[*i..].starts_with(b"&&")
                && !s[*i..].starts_with(b"||")
            {
                *i += 1;
            }
            let word = std::str::from_utf8(&s[start..*i]).map_err(|_| ())?;
            // AWS: "strings that have unicode and other characters such as
            // '@', '$', '\' must be enclosed in double quotes".
            if word.is_empty()
                || !word.is_ascii()
                || word
                    .bytes()
                    .any(|b| matches!(b, b'@' | b'$' | b'\\' | b'"' | b'%'))
            {
                return Err(());
            }
            Ok(match word.parse::<f64>() {
                Ok(n) if !word.contains('*') => Literal::Num(n),
                _ => Literal::Str(word.to_string()),
            })
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
    regexes: usize,
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
        let op = operator(self).ok_or(())?;
        let lit = literal(self.s, &mut self.i, &mut self.regexes)?;
        check_op(op, &lit)?;
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
                Literal::Str(_) | Literal::Regex(_) => {
                    let text = match got {
                        Value::String(t) => t.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return false,
                    };
                    compare_text(&text, *op, lit)
                }
                Literal::Num(n) => {
                    let x = match got {
                        Value::Number(x) => x.as_f64(),
                        Value::String(t) => t.parse::<f64>().ok(),
                        _ => None,
                    };
                    x.is_some_and(|x| compare_num(x, *op, *n))
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
        let table: &[(&str, &[(&str, bool)])] = &[
            ("", &[("anything", true)]),
            ("\"\"", &[("anything", true)]),
            // Case-sensitive, anywhere in the message (AWS: ERROR matches ERRORCODE).
            (
                "ERROR",
                &[
                    ("[ERROR] boom", true),
                    ("Exiting with ERRORCODE: -1", true),
                    ("error", false),
                ],
            ),
            (
                "ERROR Exception",
                &[("ERROR: Exception", true), ("ERROR only", false)],
            ),
            (
                "\"Failed to connect\"",
                &[("x Failed to connect y", true), ("Failed connect", false)],
            ),
            (
                "?ERROR ?WARN",
                &[("WARN a", true), ("ERROR b", true), ("INFO c", false)],
            ),
            (
                "ERROR -timeout",
                &[
                    ("ERROR db", true),
                    ("ERROR timeout", false),
                    ("INFO", false),
                ],
            ),
            // The user guide's own example: a lone `-` before a quoted term.
            (
                "\"ERROR\" - \"Exiting\"",
                &[
                    ("[ERROR] fatal", true),
                    ("Exiting with ERRORCODE: -1", false),
                ],
            ),
            (
                "\"say \\\"hi\\\"\"",
                &[("they say \"hi\" now", true), ("say hi", false)],
            ),
            (
                "\"user@example.com\"",
                &[("login user@example.com", true), ("user", false)],
            ),
            ("snake_case_9", &[("a snake_case_9 b", true)]),
        ];
        for (pattern, cases) in table {
            check(pattern, cases);
        }
    }

    #[test]
    fn json() {
        let req = r#"{"level":"error","latency":250,"path":"/health","ok":true,"n":null,"tags":["a","b"],"user":{"id":"42"},"ip":"123.123.9.1"}"#;
        let cases = [
            ("{ $.level = \"error\" }", true),
            ("{ $.level = error }", true),
            ("{$.level=\"error\"}", true),
            ("{ $.level != \"error\" }", false),
            ("{ $.level = \"err*\" }", true),
            ("{ $.level = \"ERROR\" }", false),
            ("{ $.latency > 100 }", true),
            ("{ $.latency <= 100 }", false),
            ("{ $.latency = 250 && $.path = \"/health\" }", true),
            ("{ $.latency < 10 || $.path = \"/h*\" }", true),
            ("{ ($.latency < 10 || $.ok IS TRUE) && $.n IS NULL }", true),
            ("{ $.missing NOT EXISTS }", true),
            ("{ $.user.id = 42 }", true),
            ("{ $.user.id = \"42\" }", true),
            ("{ $.tags[1] = \"b\" }", true),
            ("{ $.tags = \"a\" }", false),
            ("{ $.missing = \"x\" }", false),
            ("{ $.ok IS FALSE }", false),
            ("{ $.ip != 123.123.* }", false),
            ("{ $.level = %^err[a-z]+$% }", true),
            ("{ $.level != %^warn% }", true),
        ];
        for (p, want) in cases {
            check(p, &[(req, want), ("not json ERROR", false)]);
        }
    }

    #[test]
    fn many_ellipses_answer_at_once() {
        // A dozen `...` with a named field between each pair: without the
        // budget (and the merging of `..., ...`) this tries billions of
        // alignments of a 40-word event and holds the request for hours.
        let words: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
        let event = words.join(" ");
        let spread = (0..12)
            .map(|i| format!("..., f{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let started = std::time::Instant::now();
        check(&format!("[{spread}, ..., x = nomatch]"), &[(&event, false)]);
        check(
            "[...,...,...,...,...,...,...,...,...,...,...,...,x=nomatch]",
            &[(&event, false)],
        );
        check(
            "[...,...,...,...,...,...,...,...,...,...,...,...,x=w39]",
            &[(&event, true)],
        );
        check("[..., w, ..., x = w39]", &[(&event, true)]);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn space_delimited() {
        let apache = [
            "127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 1534",
            "127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] \"GET /index.html HTTP/1.0\" 404 5324",
            "127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] \"GET /apache_pb.gif HTTP/1.0\" 500 4355",
        ];
        let table: &[(&str, [bool; 3])] = &[
            (
                "[ip, user, username, timestamp, request, status_code, bytes]",
                [true, true, true],
            ),
            // Without `...` the field counts must agree.
            (
                "[ip, user, username, timestamp, request, status_code]",
                [false, false, false],
            ),
            ("[..., status_code, bytes]", [true, true, true]),
            ("[ip, user, ..., status_code, bytes]", [true, true, true]),
            ("[ip, user, ...]", [true, true, true]),
            (
                "[ip, user, username, timestamp, request, status_code, bytes > 5000]",
                [false, true, false],
            ),
            (
                "[ip, user, username, timestamp, request, status_code = 200, bytes]",
                [true, false, false],
            ),
            (
                "[ip, user, username, timestamp, request, status_code = 4*, bytes]",
                [false, true, false],
            ),
            (
                "[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]",
                [false, true, false],
            ),
            (
                "[..., request=*.html*, status_code=4*,]",
                [false, true, false],
            ),
            (
                "[..., status_code = 404 || status_code = 500, bytes]",
                [false, true, true],
            ),
            (
                "[..., status_code >= 400 && status_code < 500, bytes]",
                [false, true, false],
            ),
            (
                "[..., status_code = 4* , bytes > 1000 && bytes < 5000]",
                [false, false, false],
            ),
            ("[ip, user, username = frank, ...]", [true, true, true]),
            ("[ip, user, username = Frank, ...]", [false, false, false]),
            // The bracketed and quoted fields lose their brackets and quotes.
            (
                "[ip, user, username, timestamp = 10/Oct/2000:13:35*, ...]",
                [false, true, false],
            ),
            (
                "[ip, user, username, timestamp, request = \"GET /index.html HTTP/1.0\", ...]",
                [false, true, false],
            ),
            ("[ip = %127\\.0\\.0\\.[1-9]%, ...]", [true, true, true]),
            ("[..., status_code != 200, bytes]", [false, true, true]),
        ];
        for (pattern, want) in table {
            let p = Pattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            for (msg, w) in apache.iter().zip(want) {
                assert_eq!(p.matches(msg), *w, "pattern {pattern:?} on {msg:?}");
            }
        }
        check(
            "[w1=ERROR, w2]",
            &[
                ("ERROR WARN message", false),
                ("ERROR message", true),
                ("WARN message", false),
            ],
        );
        check(
            "[w1=ERROR || w1=WARN, w2]",
            &[
                ("ERROR WARN message", false),
                ("ERROR message", true),
                ("WARN message", true),
            ],
        );
        check(
            "[w1!=ERROR&&w1!=WARN, ...]",
            &[("INFO x", true), ("ERROR message", false)],
        );
        assert_eq!(
            split_message("a  [b c] \"d e\" f"),
            vec!["a", "b c", "d e", "f"]
        );
    }

    #[test]
    fn regex() {
        let table: &[(&str, &[(&str, bool)])] = &[
            (
                "%AUTHORIZED%",
                &[("[ERROR 401] UNAUTHORIZED REQUEST", true), ("ok", false)],
            ),
            ("%ERR[0-9]+%", &[("an ERR42 here", true), ("ERR", false)]),
            ("%^[hc]at%", &[("hat trick", true), ("that", false)]),
            ("%colou?r%", &[("color", true), ("colour", true)]),
            ("%a{3,5}%", &[("aaa", true), ("aa", false)]),
            (
                "%\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}%",
                &[("from 10.0.0.1", true)],
            ),
            (
                "%[Ee]rror|[Ff]ail%",
                &[("Error", true), ("fail", true), ("ok", false)],
            ),
        ];
        for (pattern, cases) in table {
            check(pattern, cases);
        }
    }

    #[test]
    fn refusals() {
        let table: &[(&str, &str)] = &[
            ("{ $.a = }", INVALID),
            ("{ level = 1 }", INVALID),
            ("{ $.a > \"x\" }", INVALID),
            (
                "{ $.a = 1",
                "If a filter pattern starts with '{' it must end with '}'",
            ),
            ("{ $.a = %x% && $.b = %y% && $.c = %z% }", INVALID),
            // Unquoted JSON values: no '@', '$', '\\' or non-ASCII.
            ("{ $.user = bob@example.com }", INVALID),
            ("{ $.price = 5$ }", INVALID),
            ("{ $.name = José }", INVALID),
            ("[ip, user", INVALID),
            ("[a, b = ]", INVALID),
            ("[a, a]", INVALID),
            ("[a, b > x]", INVALID),
            // A condition on a field the pattern does not name (the user
            // guide's own example that AWS refuses).
            (
                "[ip, user, username, timestamp, request, status_code = 4* && bytes > 1000]",
                INVALID,
            ),
            ("[a = %x%, b = %y%, c = %z%]", INVALID),
            // AWS's regex subset: no groups, no spaces, no multi-byte text.
            ("%ERR(OR)?%", INVALID),
            ("%something!%", INVALID),
            ("%a b%", INVALID),
            ("%é%", INVALID),
            ("%%", INVALID),
            ("%[%", INVALID),
            // Unquoted terms: letters, digits and `_` only.
            (
                "user@example.com",
                "Invalid filter pattern: Invalid character(s) in term 'user@example.com'",
            ),
            (
                "ERROR:",
                "Invalid filter pattern: Invalid character(s) in term 'ERROR:'",
            ),
            (
                "foo-bar",
                "Invalid filter pattern: Invalid character(s) in term 'foo-bar'",
            ),
            ("\"unclosed", INVALID),
            ("\"a\"b", INVALID),
            ("ERROR -", INVALID),
        ];
        for (pattern, message) in table {
            match Pattern::parse(pattern) {
                Ok(p) => panic!("{pattern:?} parsed: {p:?}"),
                Err(e) => assert_eq!(&e, message, "{pattern:?}"),
            }
        }
    }
}
