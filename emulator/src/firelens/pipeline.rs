//! Routing (A4.2): records of a tag pass every filter whose Match takes the
//! tag, in declaration order; records a filter re-emits (rewrite_tag,
//! multiline) go back to the top of the chain under their new tag; what
//! comes out fans out to every output whose Match takes the tag, and is
//! dropped when none does. Pure and synchronous: the engine feeds it and
//! ships what it routes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::config::{ConfigError, Section};
use super::filters::{self, Filter, Kind};
use super::parsers::Parsers;
use super::record::Event;
use super::router::MatchSpec;

pub struct FilterInstance {
    /// `grep.0`, `rewrite_tag.1`, ... (Fluent Bit's instance names).
    pub name: String,
    pub spec: MatchSpec,
    pub filter: Box<dyn Filter>,
}

/// Records for one output.
#[derive(Debug)]
pub struct Routed {
    pub output: usize,
    pub tag: Arc<str>,
    pub events: Vec<Event>,
}

/// A rewrite_tag re-emitting what it emitted before: Fluent Bit's
/// `recursion_action exit`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "[filter:rewrite_tag:{filter}] emitter cycle detected: tag '{tag}' was re-emitted by the same filter again"
)]
pub struct Recursion {
    pub filter: String,
    pub tag: String,
}

pub struct Pipeline {
    pub filters: Vec<FilterInstance>,
    pub outputs: Vec<MatchSpec>,
}

/// Past this many re-emissions of one record, it is a cycle whatever the
/// filters.
const MAX_DEPTH: usize = 32;

impl Pipeline {
    /// Builds the filters of the `[FILTER]` sections (in order) and takes
    /// the outputs' match specs.
    pub fn build(
        filter_sections: &[&Section],
        outputs: Vec<MatchSpec>,
        parsers: &Arc<Parsers>,
        warnings: &mut Vec<String>,
    ) -> Result<Pipeline, ConfigError> {
        let mut counts = std::collections::HashMap::<String, usize>::new();
        let mut filters = Vec::new();
        for s in filter_sections {
            let Some(name) = s.name() else {
                return Err(ConfigError(format!(
                    "{}: a [FILTER] section needs a Name",
                    s.origin
                )));
            };
            let name = name.to_ascii_lowercase();
            let n = counts.entry(name.clone()).or_default();
            let inst = format!("{name}.{n}");
            *n += 1;
            let scope = format!("filter:{name}:{inst}");
            let spec = MatchSpec::from_section(s, &scope)?;
            let filter: Box<dyn Filter> = if filters::SUPPORTED.contains(&name.as_str()) {
                filters::build(&name, s, &scope, parsers, warnings)?
            } else if filters::PASSTHROUGH.contains(&name.as_str()) {
                warnings.push(format!(
                    "[{scope}] filter '{name}' is not supported by fargate-local's router: records pass through it unchanged"
                ));
                Box::new(filters::Passthrough)
            } else {
                return Err(ConfigError(format!(
                    "[config] section 'filter' tried to instance a plugin name that doesn't exist: {name}"
                )));
            };
            if spec.is_empty() {
                warnings.push(format!(
                    "[{scope}] NO match rule for {name} filter instance, unloading."
                ));
                continue;
            }
            filters.push(FilterInstance {
                name: inst,
                spec,
                filter,
            });
        }
        Ok(Pipeline { filters, outputs })
    }

    /// Runs records of `tag` through the chain; what reaches outputs is
    /// appended to `out`.
    pub fn process(
        &mut self,
        tag: &str,
        events: Vec<Event>,
        now: Instant,
        out: &mut Vec<Routed>,
    ) -> Result<(), Recursion> {
        let mut queue = VecDeque::new();
        queue.push_back((tag.to_string(), events, Vec::new()));
        self.run(queue, now, out)
    }

    /// Flushes multiline groups that timed out (all with `force`, at
    /// shutdown) and routes them.
    pub fn tick(
        &mut self,
        now: Instant,
        force: bool,
        out: &mut Vec<Routed>,
    ) -> Result<(), Recursion> {
        let mut queue = VecDeque::new();
        for (i, f) in self.filters.iter_mut().enumerate() {
            let mut emitted = Vec::new();
            f.filter.tick(now, force, &mut emitted);
            push_emitted(&mut queue, emitted, &[], i);
        }
        self.run(queue, now, out)
    }

    fn run(
        &mut self,
        mut queue: VecDeque<(String, Vec<Event>, Vec<usize>)>,
        now: Instant,
        out: &mut Vec<Routed>,
    ) -> Result<(), Recursion> {
        while let Some((tag, mut events, lineage)) = queue.pop_front() {
            for (i, f) in self.filters.iter_mut().enumerate() {
                if events.is_empty() {
                    break;
                }
                if !f.spec.matches(&tag) {
                    continue;
                }
                let kind = f.filter.kind();
                // The multiline filter ignores its own re-emits.
                if kind == Kind::Multiline && lineage.last() == Some(&i) {
                    continue;
                }
                let mut emitted = Vec::new();
                events = f.filter.filter(&tag, events, now, &mut emitted);
                if emitted.is_empty() {
                    continue;
                }
                if (kind == Kind::RewriteTag && lineage.contains(&i)) || lineage.len() >= MAX_DEPTH
                {
                    return Err(Recursion {
                        filter: f.name.clone(),
                        tag: emitted[0].0.clone(),
                    });
                }
                push_emitted(&mut queue, emitted, &lineage, i);
            }
            if events.is_empty() {
                continue;
            }
            let tag: Arc<str> = Arc::from(tag.as_str());
            let targets: Vec<usize> = (0..self.outputs.len())
                .filter(|&o| self.outputs[o].matches(&tag))
                .collect();
            if let Some((&last, rest)) = targets.split_last() {
                for &o in rest {
                    out.push(Routed {
                        output: o,
                        tag: tag.clone(),
                        events: events.clone(),
                    });
                }
                out.push(Routed {
                    output: last,
                    tag,
                    events,
                });
            }
        }
        Ok(())
    }
}

/// Groups consecutive re-emitted records of one tag into one batch.
fn push_emitted(
    queue: &mut VecDeque<(String, Vec<Event>, Vec<usize>)>,
    emitted: Vec<(String, Event)>,
    lineage: &[usize],
    by: usize,
) {
    let mut lin = lineage.to_vec();
    lin.push(by);
    let mut batch: Option<(String, Vec<Event>)> = None;
    for (t, e) in emitted {
        match &mut batch {
            Some((bt, be)) if *bt == t => be.push(e),
            _ => {
                if let Some((bt, be)) = batch.take() {
                    queue.push_back((bt, be, lin.clone()));
                }
                batch = Some((t, vec![e]));
            }
        }
    }
    if let Some((bt, be)) = batch {
        queue.push_back((bt, be, lin));
    }
}

#[cfg(test)]
mod tests;
