//! Draws the console's pages: the templates (files beside this one,
//! embedded in the binary) filled from the values of `view.rs`. Templates
//! escape everything they are given, so a name a user chose cannot become
//! markup.

use std::sync::LazyLock;

use minijinja::{AutoEscape, Environment, Value, context};
use serde::Serialize;

use super::view::LEGEND;

/// The console's address below the listen address; links are absolute.
pub const ROOT: &str = "/_fargate-local/console/";

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_formatter(|out, state, value| {
        if matches!(state.auto_escape(), AutoEscape::Html)
            && !value.is_safe()
            && !value.is_none()
            && !value.is_undefined()
        {
            out.write_str(&escape_html(&value.to_string()))?;
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    let files = [
        ("base.html", include_str!("templates/base.html")),
        ("_tasks.html", include_str!("templates/_tasks.html")),
        (
            "_execution_role.html",
            include_str!("templates/_execution_role.html"),
        ),
        ("_egress.html", include_str!("templates/_egress.html")),
        ("clusters.html", include_str!("templates/clusters.html")),
        ("cluster.html", include_str!("templates/cluster.html")),
        ("service.html", include_str!("templates/service.html")),
        ("task.html", include_str!("templates/task.html")),
        ("logs.html", include_str!("templates/logs.html")),
        (
            "task_definitions.html",
            include_str!("templates/task_definitions.html"),
        ),
        ("family.html", include_str!("templates/family.html")),
        ("error.html", include_str!("templates/error.html")),
        ("queues.html", include_str!("templates/queues.html")),
        ("queue.html", include_str!("templates/queue.html")),
        ("roles.html", include_str!("templates/roles.html")),
        ("role.html", include_str!("templates/role.html")),
        ("namespaces.html", include_str!("templates/namespaces.html")),
    ];
    for (name, source) in files {
        // The templates are part of the binary: one that does not parse
        // is a bug caught by the unit tests, not a runtime condition.
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("console template {name}: {e}"));
    }
    env
});

/// Renders `template` with the page's own values `page` (merged into the
/// context) and what every page shows: the root, region and legend.
pub fn page(template: &str, region: &str, page: impl Serialize) -> Result<String, String> {
    let ctx = context! {
        root => ROOT,
        region => region,
        legend => LEGEND,
        token => super::form_token(),
        ..Value::from_serialize(&page)
    };
    TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .map_err(|e| format!("{e:#}"))
}

/// Escapes the five characters that matter in HTML text and quoted
/// attributes. MiniJinja's own escaping also writes `/` as `&#x2f;`, which
/// is safe but makes every ARN and path in the page source unreadable.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
