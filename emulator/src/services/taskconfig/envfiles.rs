//! `environmentFiles`: the line rules and the precedence, as the ECS agent
//! applies them. Pure: the files arrive as bytes.
//!
//! Lines are split on `\n` (a trailing `\r` dropped); a line whose first
//! byte is `#` is a comment; a line without `=` is ignored; the first `=`
//! splits name from value, and nothing is trimmed or unquoted; an empty
//! name is skipped; within a file the last duplicate wins. Lines over
//! 64 KiB fail, as the agent's line scanner does. Values must be UTF-8.

/// The agent's line scanner's limit.
pub const MAX_LINE: usize = 64 * 1024;

/// The variables of one file, in first-seen order, last value winning.
pub fn parse(name: &str, content: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, raw) in content.split(|b| *b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.len() > MAX_LINE {
            return Err(format!(
                "unable to read env file {name}: bufio.Scanner: token too long"
            ));
        }
        if line.first() == Some(&b'#') {
            continue;
        }
        let line = std::str::from_utf8(line).map_err(|_| {
            format!(
                "env file {name} contains invalid utf8 bytes at line {}",
                i + 1
            )
        })?;
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.is_empty() {
            continue;
        }
        match out.iter_mut().find(|(ok, _)| ok == k) {
            Some(slot) => slot.1 = v.to_string(),
            None => out.push((k.to_string(), v.to_string())),
        }
    }
    Ok(out)
}

/// Adds the files' variables to `env` where `env` (the container's
/// `environment` and `secrets`) does not have them; among files, the first
/// file that has a variable wins.
pub fn merge(env: &mut Vec<(String, String)>, files: Vec<Vec<(String, String)>>) {
    for file in files {
        for (k, v) in file {
            if !env.iter().any(|(ek, _)| *ek == k) {
                env.push((k, v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(content: &str, want: &[(&str, &str)]) {
        let got = parse("f.env", content.as_bytes()).unwrap();
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want, "{content:?}");
    }

    #[test]
    fn line_rules() {
        check("A=1\nB=2\n", &[("A", "1"), ("B", "2")]);
        check("A=1\r\nB=2\r\n", &[("A", "1"), ("B", "2")]);
        check("# comment\nA=1", &[("A", "1")]);
        check(" # not a comment=x", &[(" # not a comment", "x")]);
        check("A=x=y", &[("A", "x=y")]);
        check("A=\"quoted value\"  ", &[("A", "\"quoted value\"  ")]);
        check("  A =1", &[("  A ", "1")]);
        check("=nokey\nNOEQUALS\n\nA=", &[("A", "")]);
        check("A=1\nB=2\nA=3", &[("A", "3"), ("B", "2")]);
    }

    #[test]
    fn bad_files_fail() {
        let long = format!("A={}", "x".repeat(MAX_LINE));
        assert!(
            parse("f.env", long.as_bytes())
                .unwrap_err()
                .contains("too long")
        );
        let e = parse("f.env", b"A=1\nB=\xff\n").unwrap_err();
        assert_eq!(e, "env file f.env contains invalid utf8 bytes at line 2");
    }

    #[test]
    fn precedence() {
        let mut env = vec![("E".to_string(), "env".to_string())];
        let f = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        merge(
            &mut env,
            vec![
                f(&[("E", "file1"), ("F", "file1")]),
                f(&[("F", "file2"), ("G", "file2")]),
            ],
        );
        assert_eq!(env, f(&[("E", "env"), ("F", "file1"), ("G", "file2")]));
    }
}
