//! Regular expressions as Fluent Bit runs them: Oniguruma with Ruby syntax
//! (named groups `(?<n>…)`, lookaround, `\h`), through the `onig` crate.
//! Fluent Bit links Onigmo, Ruby's fork; the differences between the two
//! do not show in the patterns logging configs use.

use onig::{Regex as Onig, RegexOptions, SearchOptions, Syntax};

pub struct Regex {
    re: Onig,
    pattern: String,
    /// Named groups in group-number order.
    names: Vec<(usize, String)>,
}

impl std::fmt::Debug for Regex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}/", self.pattern)
    }
}

impl Regex {
    pub fn new(pattern: &str) -> Result<Regex, String> {
        Regex::with_options(pattern, RegexOptions::REGEX_OPTION_NONE)
    }

    pub fn with_options(pattern: &str, opts: RegexOptions) -> Result<Regex, String> {
        let re = Onig::with_options(pattern, opts, Syntax::ruby())
            .map_err(|e| format!("invalid regex '{pattern}': {}", e.description()))?;
        let mut names = Vec::new();
        re.foreach_name(|name, groups| {
            for g in groups {
                names.push((*g as usize, name.to_string()));
            }
            true
        });
        names.sort();
        Ok(Regex {
            re,
            pattern: pattern.to_string(),
            names,
        })
    }

    /// A `/regex/flags` literal (multiline rules); plain text is taken as is.
    pub fn from_slashed(text: &str) -> Result<Regex, String> {
        if let Some(body) = text.strip_prefix('/')
            && let Some(end) = body.rfind('/')
        {
            let flags = &body[end + 1..];
            let mut opts = RegexOptions::REGEX_OPTION_NONE;
            for f in flags.chars() {
                match f {
                    'i' => opts |= RegexOptions::REGEX_OPTION_IGNORECASE,
                    'm' => opts |= RegexOptions::REGEX_OPTION_MULTILINE,
                    'x' => opts |= RegexOptions::REGEX_OPTION_EXTEND,
                    _ => return Err(format!("invalid regex flag '{f}' in {text}")),
                }
            }
            return Regex::with_options(&body[..end], opts);
        }
        Regex::new(text)
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Unanchored search.
    pub fn is_match(&self, s: &str) -> bool {
        self.re.find(s).is_some()
    }

    /// Length of a match anchored at position 0 (`onig_match`).
    pub fn match_len_at_start(&self, s: &str) -> Option<usize> {
        self.re
            .match_with_options(s, 0, SearchOptions::SEARCH_OPTION_NONE, None)
    }

    /// Capture groups of the first match: index 0 is the whole match.
    pub fn captures(&self, s: &str) -> Option<Vec<Option<String>>> {
        let caps = self.re.captures(s)?;
        Some(
            (0..caps.len())
                .map(|i| caps.at(i).map(str::to_string))
                .collect(),
        )
    }

    /// Named captures of the first match, in group order (unset groups
    /// are left out).
    pub fn named_captures(&self, s: &str) -> Option<Vec<(String, String)>> {
        let caps = self.re.captures(s)?;
        Some(
            self.names
                .iter()
                .filter_map(|(i, n)| caps.at(*i).map(|v| (n.clone(), v.to_string())))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruby_syntax() {
        let r = Regex::new(r"^(?<host>[^ ]+) (?<code>\d+)(?: (?<opt>x))?$").unwrap();
        assert_eq!(
            r.named_captures("h1 200"),
            Some(vec![
                ("host".into(), "h1".into()),
                ("code".into(), "200".into())
            ])
        );
        assert!(Regex::new(r"^(?![IWEF], \[)").unwrap().is_match("  at foo"));
        assert!(!Regex::new(r"^(?![IWEF], \[)").unwrap().is_match("I, [2024"));
        assert!(Regex::new(r"(?<=a)b").unwrap().is_match("ab"));
        assert!(Regex::new(r"^\h+$").unwrap().is_match("0af9"));
        assert!(Regex::new("(").is_err());
        assert_eq!(Regex::new("ab").unwrap().match_len_at_start("abc"), Some(2));
        assert_eq!(Regex::new("b").unwrap().match_len_at_start("abc"), None);
        let s = Regex::from_slashed("/^foo/i").unwrap();
        assert!(s.is_match("FOO bar"));
        assert_eq!(
            Regex::new("a(b)(c)?").unwrap().captures("xab"),
            Some(vec![Some("ab".into()), Some("b".into()), None])
        );
    }
}
