//! The classic-mode Fluent Bit configuration format: sections, indented
//! `Key Value` entries, `@INCLUDE`, `@SET` and `${VAR}` (A4.1 of the
//! FireLens reference). Pure apart from reading files: it yields ordered
//! sections and leaves their meaning to the plugins. YAML configs are not
//! read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A config error, printed as `[error] [config] <message>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// One `[NAME]` section with its entries in file order. Keys are lower-cased
/// (keys are case-insensitive); repeated keys are all kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Upper-cased section name: SERVICE, INPUT, FILTER, OUTPUT, PARSER,
    /// MULTILINE_PARSER, ...
    pub kind: String,
    pub entries: Vec<(String, String)>,
    /// `file:line` of the header, for messages.
    pub origin: String,
}

impl Section {
    /// The last value of `key` (a repeated single-valued key overrides).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn name(&self) -> Option<&str> {
        self.get("name")
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => parse_bool(v)
                .ok_or_else(|| ConfigError(format!("invalid boolean value '{v}' for key '{key}'"))),
        }
    }
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Some(true),
        "false" | "off" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// Where text comes from: the file system, with the aws-for-fluent-bit
/// image's ready-made files as a fallback when they are absent.
pub trait Source {
    fn read(&self, path: &Path) -> std::io::Result<String>;
    fn glob(&self, pattern: &str) -> Vec<PathBuf>;
}

pub struct Fs;

impl Source for Fs {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        match std::fs::read_to_string(path) {
            Ok(s) => Ok(s),
            Err(e) => builtin_file(path).map(str::to_string).ok_or(e),
        }
    }

    fn glob(&self, pattern: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = glob::glob(pattern)
            .map(|g| g.filter_map(Result::ok).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// The files of the aws-for-fluent-bit image that FireLens configs include
/// by absolute path, served when the path does not exist here.
pub fn builtin_file(path: &Path) -> Option<&'static str> {
    match path.to_str()? {
        "/fluent-bit/configs/parse-json.conf" => Some(
            "[SERVICE]\n    Parsers_File /fluent-bit/parsers/parsers.conf\n    Flush 1\n    Grace 30\n\n\
             [FILTER]\n    Name parser\n    Match *\n    Key_Name log\n    Parser json\n    Reserve_Data True\n",
        ),
        "/fluent-bit/configs/minimize-log-loss.conf" => {
            Some("[SERVICE]\n    Flush 1\n    Grace 30\n")
        }
        "/fluent-bit/parsers/parsers.conf" | "/fluent-bit/etc/parsers.conf" => {
            Some(crate::firelens::parsers::BUILTIN_PARSERS_CONF)
        }
        _ => None,
    }
}

/// Parses a main config (or a parsers file) and everything it includes.
/// `vars` are the `@SET` variables (shared with later files).
pub fn load(
    src: &dyn Source,
    path: &Path,
    vars: &mut HashMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Section>, ConfigError> {
    let text = src.read(path).or_else(|e| {
        err(format!(
            "could not open configuration file {}: {e}",
            path.display()
        ))
    })?;
    let mut out = Vec::new();
    let mut ctx = Ctx::new(src, vars, warnings, path);
    ctx.parse(&text, path, &mut out)?;
    Ok(out)
}

/// Parses config text as if read from `path` (tests, built-in files).
pub fn load_str(
    src: &dyn Source,
    text: &str,
    path: &Path,
    vars: &mut HashMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Section>, ConfigError> {
    let mut out = Vec::new();
    let mut ctx = Ctx::new(src, vars, warnings, path);
    ctx.parse(text, path, &mut out)?;
    Ok(out)
}

/// How deep `@INCLUDE`s may nest.
const MAX_INCLUDE_DEPTH: usize = 32;
/// How many files one configuration may read, Fluent Bit's
/// `FLB_CF_FILE_NUM_LIMIT`.
const MAX_FILES: usize = 1000;

struct Ctx<'a> {
    src: &'a dyn Source,
    vars: &'a mut HashMap<String, String>,
    warnings: &'a mut Vec<String>,
    depth: usize,
    /// Every file read so far. Fluent Bit reads a file once per
    /// configuration and refuses a second `@INCLUDE` of it; without that,
    /// a file including another twice, which includes a third twice, ...
    /// would be read 2^depth times.
    read: Vec<PathBuf>,
}

impl<'a> Ctx<'a> {
    fn new(
        src: &'a dyn Source,
        vars: &'a mut HashMap<String, String>,
        warnings: &'a mut Vec<String>,
        main: &Path,
    ) -> Ctx<'a> {
        Ctx {
            src,
            vars,
            warnings,
            depth: 0,
            read: vec![main.to_path_buf()],
        }
    }

    fn parse(
        &mut self,
        text: &str,
        path: &Path,
        out: &mut Vec<Section>,
    ) -> Result<(), ConfigError> {
        let file = path.display().to_string();
        let mut indent: Option<usize> = None;
        let mut current: Option<Section> = None;
        for (n, raw) in text.lines().enumerate() {
            let lineno = n + 1;
            let line = raw.trim_end_matches('\r');
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let here = format!("{file}:{lineno}");
            let ws = line.len() - line.trim_start().len();
            if ws == 0 {
                if trimmed.starts_with('[') {
                    if let Some(s) = current.take() {
                        out.push(s);
                    }
                    let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
                    else {
                        return err(format!(
                            "error in {here}: invalid section header '{trimmed}'"
                        ));
                    };
                    let name = name.trim();
                    if name.is_empty() || name.contains(char::is_whitespace) {
                        return err(format!("error in {here}: invalid section name '{name}'"));
                    }
                    current = Some(Section {
                        kind: name.to_ascii_uppercase(),
                        entries: Vec::new(),
                        origin: here,
                    });
                    continue;
                }
                if let Some(rest) = strip_command(trimmed, "@INCLUDE") {
                    if let Some(s) = current.take() {
                        out.push(s);
                    }
                    self.include(rest.trim(), path, &here, out)?;
                    continue;
                }
                if let Some(rest) = strip_command(trimmed, "@SET") {
                    let Some((k, v)) = rest.trim().split_once('=') else {
                        return err(format!(
                            "error in {here}: invalid @SET, expected @SET KEY=VALUE"
                        ));
                    };
                    let v = self.expand(v.trim(), &here);
                    self.vars.insert(k.trim().to_string(), v);
                    continue;
                }
                return err(format!(
                    "error in {here}: invalid indentation level (an entry must be indented inside a section)"
                ));
            }
            let Some(sec) = current.as_mut() else {
                return err(format!(
                    "error in {here}: entry '{trimmed}' is outside of any section"
                ));
            };
            match indent {
                None => indent = Some(ws),
                Some(i) if i != ws => {
                    return err(format!("error in {here}: invalid indentation level"));
                }
                _ => {}
            }
            let (key, value) = match trimmed.find(char::is_whitespace) {
                Some(i) => (&trimmed[..i], trimmed[i..].trim()),
                None => (trimmed, ""),
            };
            if value.is_empty() {
                return err(format!("error in {here}: undefined value for key '{key}'"));
            }
            let value = self.expand(value, &here);
            sec.entries.push((key.to_ascii_lowercase(), value));
        }
        if let Some(s) = current.take() {
            out.push(s);
        }
        Ok(())
    }

    fn include(
        &mut self,
        target: &str,
        from: &Path,
        here: &str,
        out: &mut Vec<Section>,
    ) -> Result<(), ConfigError> {
        if target.is_empty() {
            return err(format!("error in {here}: @INCLUDE without a path"));
        }
        self.depth += 1;
        if self.depth > MAX_INCLUDE_DEPTH {
            return err(format!(
                "error in {here}: @INCLUDE nested too deep (a file includes itself?)"
            ));
        }
        let dir = from.parent().unwrap_or(Path::new("."));
        let candidates: Vec<PathBuf> = if target.contains(['*', '?', '[']) {
            let mut files = self.src.glob(target);
            if files.is_empty() && Path::new(target).is_relative() {
                files = self.src.glob(&dir.join(target).to_string_lossy());
            }
            files
        } else {
            let p = PathBuf::from(target);
            let chosen = if p.is_relative() && self.src.read(&p).is_err() {
                dir.join(&p)
            } else {
                p
            };
            vec![chosen]
        };
        for file in candidates {
            if self.read.contains(&file) {
                return err(format!(
                    "error in {here}: {} is included twice (a file is read once)",
                    file.display()
                ));
            }
            if self.read.len() >= MAX_FILES {
                return err(format!(
                    "error in {here}: more than {MAX_FILES} configuration files"
                ));
            }
            self.read.push(file.clone());
            let text = self.src.read(&file).or_else(|e| {
                err(format!(
                    "error in {here}: cannot include {}: {e}",
                    file.display()
                ))
            })?;
            self.parse(&text, &file, out)?;
        }
        self.depth -= 1;
        Ok(())
    }

    /// `${VAR}` from @SET, then the environment; `${VAR:-default}`.
    fn expand(&mut self, value: &str, here: &str) -> String {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[i..]);
                rest = "";
                break;
            };
            let inner = &after[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            let found = self
                .vars
                .get(name)
                .cloned()
                .or_else(|| std::env::var(name).ok())
                .filter(|v| !v.is_empty());
            match (found, default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => self.warnings.push(format!(
                    "{here}: variable '${{{name}}}' is not defined, using an empty value"
                )),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

fn strip_command<'a>(line: &'a str, cmd: &str) -> Option<&'a str> {
    let head = line.get(..cmd.len())?;
    if !head.eq_ignore_ascii_case(cmd) {
        return None;
    }
    let rest = &line[cmd.len()..];
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some(rest)
}

/// A size such as `25MB`, `1M`, `512k`, `1048576`. None when it is not
/// one, or does not fit in 64 bits (a run of digits too long for an `f64`
/// parses as infinity).
pub fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let digits_end = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let n: f64 = v[..digits_end].parse().ok()?;
    let mult = match v[digits_end..].trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "K" | "KB" => 1024.0,
        "M" | "MB" => 1024.0 * 1024.0,
        "G" | "GB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = n * mult;
    // `u64::MAX as f64` is 2^64, the first value that does not fit.
    (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// The longest duration a config may give: Fluent Bit keeps its time
/// settings in a C `int` of seconds, and anything longer would overflow the
/// clock arithmetic of the timers that use it (an `Instant` plus a period).
pub const MAX_DURATION_SECS: u64 = i32::MAX as u64;

/// A duration such as `10m`, `30s`, `1h`, or plain seconds (`1.5`). None
/// when it is not one, or is longer than [`MAX_DURATION_SECS`].
pub fn parse_duration(v: &str) -> Option<std::time::Duration> {
    let v = v.trim();
    let digits_end = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let n: f64 = v[..digits_end].parse().ok()?;
    let mult = match v[digits_end..].trim().to_ascii_lowercase().as_str() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return None,
    };
    // `try_from_secs_f64` refuses what `from_secs_f64` panics on (negative,
    // not finite, too large for a `Duration`).
    std::time::Duration::try_from_secs_f64(n * mult)
        .ok()
        .filter(|d| d.as_secs() <= MAX_DURATION_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Mem(HashMap<&'static str, &'static str>);

    impl Source for Mem {
        fn read(&self, path: &Path) -> std::io::Result<String> {
            self.0
                .get(path.to_str().unwrap())
                .map(|s| s.to_string())
                .or_else(|| builtin_file(path).map(str::to_string))
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        }
        fn glob(&self, pattern: &str) -> Vec<PathBuf> {
            let pat = glob::Pattern::new(pattern).unwrap();
            let mut v: Vec<PathBuf> = self
                .0
                .keys()
                .filter(|k| pat.matches(k))
                .map(PathBuf::from)
                .collect();
            v.sort();
            v
        }
    }

    type Parsed = Vec<(String, Vec<(String, String)>)>;

    fn check(files: &[(&'static str, &'static str)]) -> Result<Parsed, String> {
        let src = Mem(files.iter().copied().collect());
        let mut vars = HashMap::new();
        let mut warnings = Vec::new();
        load(&src, Path::new(files[0].0), &mut vars, &mut warnings)
            .map(|s| s.into_iter().map(|s| (s.kind, s.entries)).collect())
            .map_err(|e| e.0)
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn lexing_rules() {
        let got = check(&[(
            "/a.conf",
            "# comment\n[input]\n    Name forward\n    # indented comment\n\n    UNIX_PATH  /var/run/fluent.sock  \n[FILTER]\n    Name record_modifier\n    Record a 1\n    Record a 2 3\n",
        )])
        .unwrap();
        assert_eq!(
            got,
            vec![
                (
                    "INPUT".into(),
                    kv(&[("name", "forward"), ("unix_path", "/var/run/fluent.sock")])
                ),
                (
                    "FILTER".into(),
                    kv(&[
                        ("name", "record_modifier"),
                        ("record", "a 1"),
                        ("record", "a 2 3")
                    ])
                ),
            ]
        );
    }

    #[test]
    fn errors() {
        for (text, want) in [
            ("Name x\n", "invalid indentation level"),
            ("[INPUT\n    Name x\n", "invalid section header"),
            ("    Name x\n", "outside of any section"),
            ("[INPUT]\n    Name\n", "undefined value for key 'Name'"),
            (
                "[INPUT]\n    Name x\n      Tag y\n",
                "invalid indentation level",
            ),
            ("@INCLUDE /missing.conf\n", "cannot include /missing.conf"),
            ("@SET novalue\n", "invalid @SET"),
        ] {
            let got = check(&[("/a.conf", text)]).unwrap_err();
            assert!(got.contains(want), "{text:?}: {got}");
        }
    }

    #[test]
    fn includes_set_and_vars() {
        // SAFETY-free: the variable name is unique to this test.
        let got = check(&[
            (
                "/etc/main.conf",
                "@SET region=eu-west-1\n[INPUT]\n    Name forward\n@INCLUDE inc/*.conf\n@INCLUDE /fluent-bit/configs/minimize-log-loss.conf\n[OUTPUT]\n    Name null\n    Region ${region}\n    Group ${FIRELENS_TEST_UNDEFINED_VAR}x\n    Other ${FIRELENS_TEST_UNDEFINED_VAR:-dflt}\n",
            ),
            ("/etc/inc/1.conf", "[FILTER]\n  Name grep\n  Match *\n"),
            ("/etc/inc/2.conf", "[FILTER]\n\tName modify\n"),
        ])
        .unwrap();
        let kinds: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["INPUT", "FILTER", "FILTER", "SERVICE", "OUTPUT"]);
        assert_eq!(got[2].1, kv(&[("name", "modify")]));
        assert_eq!(got[3].1, kv(&[("flush", "1"), ("grace", "30")]));
        assert_eq!(
            got[4].1,
            kv(&[
                ("name", "null"),
                ("region", "eu-west-1"),
                ("group", "x"),
                ("other", "dflt")
            ])
        );
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("25MB"), Some(25 * 1024 * 1024));
        assert_eq!(parse_size("1M"), Some(1024 * 1024));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
        assert_eq!(
            parse_duration("10m"),
            Some(std::time::Duration::from_secs(600))
        );
        assert_eq!(
            parse_duration("0.5"),
            Some(std::time::Duration::from_millis(500))
        );
        assert_eq!(
            parse_duration("1h"),
            Some(std::time::Duration::from_secs(3600))
        );
        // Out of range: none, never a panic.
        let nines = "9".repeat(400);
        for v in [
            "99999999999999999999",
            nines.as_str(),
            "2147483648",
            "99999999999999999999d",
            "1e3",
            "-1",
        ] {
            assert_eq!(parse_duration(v), None, "{v}");
        }
        assert_eq!(
            parse_duration("2147483647"),
            Some(std::time::Duration::from_secs(2_147_483_647))
        );
        for v in [
            "18446744073709551616",
            nines.as_str(),
            "99999999999999999999G",
        ] {
            assert_eq!(parse_size(v), None, "{v}");
        }
        assert_eq!(parse_size("16777215T"), None);
        assert_eq!(parse_size("1G"), Some(1 << 30));
    }
}
