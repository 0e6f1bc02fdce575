//! Which protocol, and so which service, a request on the main port is for,
//! told from its shape alone (path, headers, and for awsQuery the body's
//! `Version`). Pure, so the whole table is tested without a server; the
//! dispatch in `api` then hands the request to the service's module.
//!
//! A new service adds its line here: its awsJson target prefix in the
//! dispatch's `match`, or its awsQuery `Version` in [`QUERY_VERSIONS`].

use axum::http::{HeaderMap, Method};

/// What a request is, before its body is read.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `/_fargate-local/...`: the emulator's own endpoints.
    Internal,
    /// awsJson: `X-Amz-Target: <prefix>.<Operation>`, or an awsJson
    /// content type without one (`target` is then `None`).
    Json { target: Option<String> },
    /// awsQuery: a form-encoded `POST` without a target. The service is the
    /// SigV4 signing name, or for an unsigned request the body's `Version`
    /// ([`query_service`]). Any path: SQS's older SDKs post to the queue URL.
    Query { signed: Option<String> },
    /// S3's REST protocol: signed for `s3`, or unsigned and none of the above.
    S3,
    /// Signed for a REST service fargate-local does not serve (Lambda, API
    /// Gateway, ...): named so that the answer can say which.
    Unserved { service: String },
}

/// The awsQuery API versions AWS gives its services, to name the service of
/// an unsigned request: (`Version`, signing name).
pub const QUERY_VERSIONS: &[(&str, &str)] = &[
    ("2015-12-01", "elasticloadbalancing"),
    ("2012-11-05", "sqs"),
    ("2010-05-08", "iam"),
    ("2011-06-15", "sts"),
    ("2010-03-31", "sns"),
    ("2016-11-15", "ec2"),
    ("2010-08-01", "monitoring"),
    ("2010-05-15", "cloudformation"),
];

/// The SigV4 signing name (the credential scope's service) of a request:
/// from the `Authorization` header, or from a presigned URL's
/// `X-Amz-Credential`.
pub fn signing_name(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let from_header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .map(|c| c.split([',', ' ']).next().unwrap_or("").to_string());
    let credential = from_header.or_else(|| {
        form_urlencoded::parse(query?.as_bytes())
            .find(|(k, _)| k.eq_ignore_ascii_case("X-Amz-Credential"))
            .map(|(_, v)| v.into_owned())
    })?;
    // <key>/<date>/<region>/<service>/aws4_request
    let service = credential.split('/').nth(3)?;
    (!service.is_empty()).then(|| service.to_string())
}

/// The route of a request, from its method, path, query and headers.
pub fn route(method: &Method, path: &str, query: Option<&str>, headers: &HeaderMap) -> Route {
    if path.starts_with("/_fargate-local/") {
        return Route::Internal;
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(target) = headers.get("x-amz-target") {
        let target = target.to_str().ok().map(str::to_string);
        return Route::Json { target };
    }
    if content_type.starts_with("application/x-amz-json") {
        return Route::Json { target: None };
    }
    let signed = signing_name(headers, query);
    let form = content_type.starts_with("application/x-www-form-urlencoded");
    match signed {
        Some(s) if s == "s3" => Route::S3,
        _ if form && *method == Method::POST => Route::Query { signed },
        Some(service) => Route::Unserved { service },
        None => Route::S3,
    }
}

/// The service (signing name) of an awsQuery request: the one it was
/// signed for, else the one whose API version it names.
pub fn query_service(signed: Option<&str>, version: Option<&str>) -> Option<String> {
    signed.map(str::to_string).or_else(|| {
        QUERY_VERSIONS
            .iter()
            .find(|(v, _)| Some(*v) == version)
            .map(|(_, s)| s.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

    fn auth(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AK/20261130/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=x"
        )
    }

    fn check(
        method: Method,
        path: &str,
        query: Option<&str>,
        headers: &[(&str, &str)],
        want: Route,
    ) {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        assert_eq!(
            route(&method, path, query, &h),
            want,
            "{method} {path} {headers:?}"
        );
    }

    #[test]
    fn requests_are_routed_by_their_shape() {
        let ecs = "AmazonEC2ContainerServiceV20141113.ListClusters";
        let json = "application/x-amz-json-1.1";
        let q = |s: Option<&str>| Route::Query {
            signed: s.map(str::to_string),
        };
        check(
            Method::GET,
            "/_fargate-local/health",
            None,
            &[],
            Route::Internal,
        );
        check(
            Method::POST,
            "/",
            None,
            &[("x-amz-target", ecs), ("content-type", json)],
            Route::Json {
                target: Some(ecs.into()),
            },
        );
        check(
            Method::POST,
            "/",
            None,
            &[("content-type", json)],
            Route::Json { target: None },
        );
        let elb = auth("elasticloadbalancing");
        check(
            Method::POST,
            "/",
            None,
            &[("content-type", FORM), ("authorization", &elb)],
            q(Some("elasticloadbalancing")),
        );
        check(Method::POST, "/", None, &[("content-type", FORM)], q(None));
        // SQS's query protocol posts to the queue URL.
        let sqs = auth("sqs");
        check(
            Method::POST,
            "/000000000000/jobs",
            None,
            &[("content-type", FORM), ("authorization", &sqs)],
            q(Some("sqs")),
        );
        // S3: signed for it (a form body included), presigned, or unsigned.
        let s3 = auth("s3");
        check(
            Method::POST,
            "/",
            None,
            &[("content-type", FORM), ("authorization", &s3)],
            Route::S3,
        );
        check(
            Method::PUT,
            "/bucket/key",
            None,
            &[("authorization", &s3)],
            Route::S3,
        );
        check(
            Method::GET,
            "/bucket/key",
            Some(
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261130%2Fus-east-1%2Fs3%2Faws4_request",
            ),
            &[],
            Route::S3,
        );
        check(Method::GET, "/bucket", None, &[], Route::S3);
        check(
            Method::GET,
            "/bucket",
            None,
            &[("content-type", FORM)],
            Route::S3,
        );
        // A REST service fargate-local does not serve is named, not taken for S3.
        let lambda = auth("lambda");
        check(
            Method::GET,
            "/2015-03-31/functions",
            None,
            &[("authorization", &lambda)],
            Route::Unserved {
                service: "lambda".into(),
            },
        );
    }

    #[test]
    fn an_unsigned_query_request_is_told_by_its_version() {
        assert_eq!(
            query_service(Some("sqs"), Some("2015-12-01")).as_deref(),
            Some("sqs")
        );
        assert_eq!(
            query_service(None, Some("2015-12-01")).as_deref(),
            Some("elasticloadbalancing")
        );
        assert_eq!(
            query_service(None, Some("2012-11-05")).as_deref(),
            Some("sqs")
        );
        assert_eq!(query_service(None, Some("1999-01-01")), None);
        assert_eq!(query_service(None, None), None);
    }
}
