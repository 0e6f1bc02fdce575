//! The awsQuery wire, shared by every service that speaks it (Elastic Load
//! Balancing v2 today): a form-encoded body of `Action=<Op>&Version=<v>&...`
//! read into [`Params`], answers as `<OpResponse><OpResult>...` XML built
//! from a small tree ([`X`]), errors as `<ErrorResponse>`. A service's own
//! module keeps only its action `match` and its shapes; its namespace
//! (`xmlns`) is passed in.

use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A form body's parameters.
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(body: &[u8]) -> Params {
        Params(form_urlencoded::parse(body).into_owned().collect())
    }

    pub fn get(&self, k: &str) -> Option<String> {
        self.0.get(k).cloned()
    }

    /// A number parameter; the error is the message AWS's validation gives,
    /// for the service to wrap in its own error type.
    pub fn num<T: std::str::FromStr>(&self, k: &str) -> Result<Option<T>, String> {
        self.0
            .get(k)
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("'{v}' is not a valid value for {k}"))
            })
            .transpose()
    }

    /// `<prefix>.member.N` (or `<prefix>.member.N.<field>`), in N order.
    pub fn list(&self, prefix: &str, field: Option<&str>) -> Vec<String> {
        self.indexed(&format!("{prefix}.member."), field)
    }

    /// `<prefix>N` (or `<prefix>N.<field>`), in N order: the flattened lists
    /// some services use (`Attribute.1.Name`, `MessageAttribute.1.Value...`).
    pub fn indexed(&self, prefix: &str, field: Option<&str>) -> Vec<String> {
        let mut items: Vec<(u32, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(prefix)?;
                let (n, tail) = match rest.split_once('.') {
                    Some((n, tail)) => (n, Some(tail)),
                    None => (rest, None),
                };
                (tail == field)
                    .then(|| (n.parse().ok(), v.clone()))
                    .and_then(|(n, v)| Some((n?, v)))
            })
            .collect();
        items.sort();
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// Every parameter, for services that walk them themselves.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// A small XML tree.
pub enum X {
    Leaf(&'static str, String),
    Node(&'static str, Vec<X>),
}

pub fn leaf(name: &'static str, v: impl ToString) -> X {
    X::Leaf(name, v.to_string())
}

/// `<name><member>...</member>...</name>`.
pub fn members(name: &'static str, items: Vec<Vec<X>>) -> X {
    X::Node(
        name,
        items.into_iter().map(|i| X::Node("member", i)).collect(),
    )
}

/// `<name><member>s</member>...</name>`.
pub fn strings(name: &'static str, items: &[String]) -> X {
    X::Node(name, items.iter().map(|s| leaf("member", s)).collect())
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

pub fn render(x: &X, out: &mut String) {
    match x {
        X::Leaf(n, v) => out.push_str(&format!("<{n}>{}</{n}>", escape(v))),
        X::Node(n, children) => {
            out.push_str(&format!("<{n}>"));
            for c in children {
                render(c, out);
            }
            out.push_str(&format!("</{n}>"));
        }
    }
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// `<OpResponse xmlns><OpResult>result</OpResult><ResponseMetadata>`.
pub fn ok(xmlns: &str, op: &str, result: &[X], request_id: &str) -> Response {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{op}Response xmlns=\"{xmlns}\"><{op}Result>"
    );
    for x in result {
        render(x, &mut out);
    }
    out.push_str(&format!(
        "</{op}Result><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{op}Response>"
    ));
    xml_response(StatusCode::OK, out, request_id)
}

/// The one place an awsQuery error becomes HTTP: `Sender` and 400 for a
/// client's fault, `Receiver` and 500 for the server's (a service that
/// answers another status for a code passes it as `status`).
pub fn error(
    xmlns: &str,
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response {
    let kind = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{xmlns}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        escape(code),
        escape(message)
    );
    xml_response(status, body, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_come_back_in_index_order() {
        let p = Params::parse(
            b"Names.member.10=j&Names.member.2=b&Names.member.1=a&Attributes.member.1.Key=k&Attribute.2.Name=y&Attribute.1.Name=x",
        );
        assert_eq!(p.list("Names", None), ["a", "b", "j"]);
        assert_eq!(p.list("Attributes", Some("Key")), ["k"]);
        assert_eq!(p.indexed("Attribute.", Some("Name")), ["x", "y"]);
        assert_eq!(
            p.num::<i32>("Names.member.1"),
            Err("'a' is not a valid value for Names.member.1".into())
        );
    }

    #[test]
    fn values_are_escaped() {
        let mut out = String::new();
        render(&X::Node("A", vec![leaf("B", "<&'\">")]), &mut out);
        assert_eq!(out, "<A><B>&lt;&amp;&apos;&quot;&gt;</B></A>");
    }
}
