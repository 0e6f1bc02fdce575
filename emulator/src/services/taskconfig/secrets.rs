//! What a `secrets` entry's `valueFrom` refers to, parsed the way the ECS
//! agent parses it, and how a JSON key's value is printed (Go's `%v`). Pure:
//! no lookups here.

use crate::domain::arn::Arn;

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretRef {
    /// A Secrets Manager secret, optionally one JSON key of one version.
    SecretsManager {
        region: String,
        /// The secret's ARN (with its suffix if `valueFrom` had one).
        secret_id: String,
        json_key: Option<String>,
        version_stage: Option<String>,
        version_id: Option<String>,
    },
    /// An SSM parameter: a name in the task's region, or from an ARN.
    Ssm { region: String, name: String },
}

/// The agent's message for a Secrets Manager ARN it cannot split.
pub const INVALID_ASM_ARN: &str = "an invalid ARN format for the AWS Secrets Manager secret was specified. Specify a valid ARN and try again.";

/// Parses `valueFrom`. Secrets Manager needs a full ARN: its resource is
/// `secret:<name>` (the whole secret) or exactly
/// `secret:<name>:<json-key>:<version-stage>:<version-id>` with empty
/// fields kept. Anything that is not an ARN is an SSM parameter name.
pub fn parse(value_from: &str, task_region: &str) -> Result<SecretRef, String> {
    if !value_from.starts_with("arn:") {
        return Ok(SecretRef::Ssm {
            region: task_region.to_string(),
            name: value_from.to_string(),
        });
    }
    let Some(arn) = Arn::parse(value_from) else {
        return Err(format!("invalid ARN for a secret: {value_from}"));
    };
    match arn.service {
        "secretsmanager" => {
            let fields: Vec<&str> = arn.resource.split(':').collect();
            if fields.first() != Some(&"secret") {
                return Err(INVALID_ASM_ARN.into());
            }
            // The secret's own ARN: the resource cut after its name.
            let secret_id = |name: &str| {
                Arn {
                    resource: &format!("secret:{name}"),
                    ..arn.clone()
                }
                .to_string()
            };
            let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
            match fields.as_slice() {
                [_, name] => Ok(SecretRef::SecretsManager {
                    region: arn.region.to_string(),
                    secret_id: secret_id(name),
                    json_key: None,
                    version_stage: None,
                    version_id: None,
                }),
                [_, name, key, stage, id] => Ok(SecretRef::SecretsManager {
                    region: arn.region.to_string(),
                    secret_id: secret_id(name),
                    json_key: opt(key),
                    version_stage: opt(stage),
                    version_id: opt(id),
                }),
                _ => Err(INVALID_ASM_ARN.into()),
            }
        }
        // The parameter is looked up by its whole ARN.
        "ssm" => match arn.resource_of("parameter") {
            Some(_) => Ok(SecretRef::Ssm {
                region: arn.region.to_string(),
                name: value_from.to_string(),
            }),
            None => Err(format!("invalid ARN for an SSM parameter: {value_from}")),
        },
        _ => Err(format!("invalid ARN for a secret: {value_from}")),
    }
}

/// One key of a JSON secret, printed as Go's `fmt` prints an
/// `interface{}` decoded by `encoding/json` (`%v`).
pub fn json_key(secret: &str, key: &str) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_str(secret).map_err(|_| {
        let c = secret.trim_start().chars().next();
        match c {
            Some(c) => format!("invalid character '{c}' looking for beginning of value"),
            None => "unexpected end of JSON input".to_string(),
        }
    })?;
    let obj = v.as_object().ok_or_else(|| {
        "json: cannot unmarshal non-object into Go value of type map[string]interface {}"
            .to_string()
    })?;
    let val = obj.get(key).ok_or_else(|| {
        format!("retrieved secret from Secrets Manager did not contain json key {key}")
    })?;
    Ok(go_value(val))
}

fn go_value(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => go_float(n.as_f64().unwrap_or(0.0)),
        Value::Array(a) => format!("[{}]", a.iter().map(go_value).collect::<Vec<_>>().join(" ")),
        // Go prints map keys sorted; serde_json's map is sorted too.
        Value::Object(o) => format!(
            "map[{}]",
            o.iter()
                .map(|(k, v)| format!("{k}:{}", go_value(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// Go's `%v` for a float64 (`strconv` 'g' with the shortest digits): `%e`
/// form when the exponent is below -4 or at least 6, else plain. So a
/// port 5432 prints as is, and 1000000 as `1e+06`.
pub fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.2345e6".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    // Plain: Rust's Display is also the shortest round-trip form.
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value_from: &str, want: Result<SecretRef, &str>) {
        assert_eq!(
            parse(value_from, "us-east-1"),
            want.map_err(str::to_string),
            "{value_from}"
        );
    }

    fn asm(id: &str, key: Option<&str>, stage: Option<&str>, vid: Option<&str>) -> SecretRef {
        SecretRef::SecretsManager {
            region: "eu-west-1".into(),
            secret_id: id.into(),
            json_key: key.map(str::to_string),
            version_stage: stage.map(str::to_string),
            version_id: vid.map(str::to_string),
        }
    }

    #[test]
    fn value_from_forms() {
        let base = "arn:aws:secretsmanager:eu-west-1:000000000000:secret";
        check(
            &format!("{base}:prod/db-AbCdEf"),
            Ok(asm(&format!("{base}:prod/db-AbCdEf"), None, None, None)),
        );
        check(
            &format!("{base}:prod/db:password::"),
            Ok(asm(
                &format!("{base}:prod/db"),
                Some("password"),
                None,
                None,
            )),
        );
        check(
            &format!("{base}:prod/db::AWSPREVIOUS:"),
            Ok(asm(
                &format!("{base}:prod/db"),
                None,
                Some("AWSPREVIOUS"),
                None,
            )),
        );
        check(
            &format!("{base}:prod/db:::abc"),
            Ok(asm(&format!("{base}:prod/db"), None, None, Some("abc"))),
        );
        check(&format!("{base}:prod/db:password"), Err(INVALID_ASM_ARN));
        check(&format!("{base}:a:b:c:d:e"), Err(INVALID_ASM_ARN));
        check(
            "/web/api-key",
            Ok(SecretRef::Ssm {
                region: "us-east-1".into(),
                name: "/web/api-key".into(),
            }),
        );
        for bad in [
            "arn:aws",
            "arn:aws:sqs:eu-west-1:000000000000:queue",
            "arn:aws:secretsmanager:eu-west-1:000000000000:",
        ] {
            check(bad, Err(&format!("invalid ARN for a secret: {bad}")));
        }
        let doc = "arn:aws:ssm:eu-west-1:000000000000:document/x";
        check(
            doc,
            Err(&format!("invalid ARN for an SSM parameter: {doc}")),
        );
        check(
            "arn:aws:ssm:eu-west-1:000000000000:parameter/web/api-key",
            Ok(SecretRef::Ssm {
                region: "eu-west-1".into(),
                name: "arn:aws:ssm:eu-west-1:000000000000:parameter/web/api-key".into(),
            }),
        );
    }

    #[test]
    fn json_keys_print_like_go() {
        let secret = r#"{"s":"x y","i":5432,"f":1.5,"big":1e21,"b":true,"n":null,"a":[1,"two"],"o":{"z":1,"a":2},"m":1000000,"m7":1234567,"m5":123456,"tiny":0.00001}"#;
        let cases = [
            ("s", "x y"),
            ("i", "5432"),
            ("f", "1.5"),
            ("big", "1e+21"),
            ("m", "1e+06"),
            ("m7", "1.234567e+06"),
            ("m5", "123456"),
            ("tiny", "1e-05"),
            ("b", "true"),
            ("n", "<nil>"),
            ("a", "[1 two]"),
            ("o", "map[a:2 z:1]"),
        ];
        for (k, want) in cases {
            assert_eq!(json_key(secret, k).unwrap(), want, "{k}");
        }
        assert_eq!(
            json_key(secret, "nope").unwrap_err(),
            "retrieved secret from Secrets Manager did not contain json key nope"
        );
        assert!(
            json_key("plain", "k")
                .unwrap_err()
                .contains("invalid character 'p'")
        );
    }
}
