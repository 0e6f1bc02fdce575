//! Which tags a plugin instance takes (A4.2): `Match` is a glob anchored at
//! both ends where only `*` is special; `Match_Regex` is anchored at the
//! start only and must match at least one character; a regex hit wins.

use super::config::{ConfigError, Section};
use super::regex::Regex;

#[derive(Debug, Default)]
pub struct MatchSpec {
    glob: Option<String>,
    regex: Option<Regex>,
}

impl MatchSpec {
    pub fn from_section(s: &Section, scope: &str) -> Result<MatchSpec, ConfigError> {
        let regex = match s.get("match_regex") {
            Some(r) => Some(
                Regex::new(r).map_err(|e| ConfigError(format!("[{scope}] Match_Regex: {e}")))?,
            ),
            None => None,
        };
        Ok(MatchSpec {
            glob: s.get("match").map(str::to_string),
            regex,
        })
    }

    pub fn glob(pattern: &str) -> MatchSpec {
        MatchSpec {
            glob: Some(pattern.to_string()),
            regex: None,
        }
    }

    /// Neither Match nor Match_Regex: the instance takes nothing.
    pub fn is_empty(&self) -> bool {
        self.glob.is_none() && self.regex.is_none()
    }

    pub fn matches(&self, tag: &str) -> bool {
        if let Some(r) = &self.regex
            && r.match_len_at_start(tag).is_some_and(|n| n > 0)
        {
            return true;
        }
        self.glob.as_deref().is_some_and(|g| glob_match(g, tag))
    }
}

/// `*` matches any run of characters (including none); everything else is
/// literal and case-sensitive; both ends anchored.
pub fn glob_match(pattern: &str, tag: &str) -> bool {
    let p = pattern.as_bytes();
    let t = tag.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(glob: Option<&str>, regex: Option<&str>) -> MatchSpec {
        MatchSpec {
            glob: glob.map(str::to_string),
            regex: regex.map(|r| Regex::new(r).unwrap()),
        }
    }

    #[test]
    fn match_table() {
        let id = "0123456789abcdef0123456789abcdef";
        let web = format!("web-firelens-{id}");
        let app = format!("app.web-firelens-{id}");
        for (glob, regex, tag, want) in [
            (Some("*"), None, web.as_str(), true),
            (Some("*"), None, "", true),
            (Some("web-firelens*"), None, web.as_str(), true),
            (Some("web-firelens*"), None, app.as_str(), false),
            (Some("*-firelens-*"), None, app.as_str(), true),
            (Some("app.*"), None, app.as_str(), true),
            (Some("app.*"), None, "app", false),
            (Some("App.*"), None, app.as_str(), false),
            (Some("a*b*c"), None, "aXbYc", true),
            (Some("a*b*c"), None, "aXbYcd", false),
            (Some("a.b"), None, "aXb", false),
            (
                None,
                Some("^[A-Za-z0-9_-]+-firelens-[0-9a-f]+$"),
                web.as_str(),
                true,
            ),
            (
                None,
                Some("^[A-Za-z0-9_-]+-firelens-[0-9a-f]+$"),
                app.as_str(),
                false,
            ),
            // anchored at the start only: a prefix is enough
            (None, Some("web-"), web.as_str(), true),
            (None, Some("firelens"), web.as_str(), false),
            // a zero-length match does not count
            (None, Some("x*"), web.as_str(), false),
            // regex miss falls back to the glob
            (Some("web*"), Some("^nope"), web.as_str(), true),
            (None, None, web.as_str(), false),
        ] {
            assert_eq!(
                spec(glob, regex).matches(tag),
                want,
                "{glob:?} {regex:?} {tag}"
            );
        }
    }
}
