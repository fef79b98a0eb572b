//! `path-help` text and the OpenAPI document, both generated from the path table.

use serde_json::{json, Map, Value};

use super::path::Path;
use super::request::Operation;

/// `bao path-help <mount>/<path>` text for one path.
pub(crate) fn path_help<B>(path: &Path<B>, request_path: &str) -> String {
    let mut out = format!(
        "Request:        {request_path}\nMatching Route: ^{}$\n\n{}\n",
        path.pattern,
        path.synopsis.trim()
    );
    let mut fields: Vec<_> = path.fields.iter().collect();
    fields.sort_by_key(|f| f.name);
    if !fields.is_empty() {
        out.push_str("\n## PARAMETERS\n");
        for f in fields {
            out.push_str(&format!("\n    {} ({})\n\n", f.name, f.ty.display_name()));
            for line in f.description.trim().lines() {
                out.push_str(&format!("        {}\n", line.trim()));
            }
        }
    }
    out.push_str("\n## DESCRIPTION\n\n");
    out.push_str(path.description.trim());
    out.push('\n');
    out
}

/// Root help: the engine's description and its paths.
pub(crate) fn root_help<B>(backend_help: &str, paths: &[Path<B>]) -> String {
    let mut out = format!("## DESCRIPTION\n\n{}\n\n## PATHS\n\nThe following paths are supported by this backend. To view help for\nany of the paths below, use the help command with any route matching\nthe path pattern. Note that depending on the policy of your auth token,\nyou may or may not be able to access certain paths.\n", backend_help.trim());
    for p in paths {
        out.push_str(&format!(
            "\n    ^{}$\n        {}\n",
            p.pattern,
            p.synopsis.trim()
        ));
    }
    out
}

/// Expands a path regex into OpenAPI path templates: named captures become
/// `{name}`, `(a|b)` alternations become one path each, optional `/?` is dropped.
pub(crate) fn openapi_paths(pattern: &str) -> Vec<String> {
    let mut variants = vec![String::new()];
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '(' {
            let end = matching_paren(&chars, i);
            let inner: String = chars[i + 1..end].iter().collect();
            if let Some(rest) = inner.strip_prefix("?P<") {
                let name: String = rest.chars().take_while(|c| *c != '>').collect();
                for v in &mut variants {
                    v.push_str(&format!("{{{name}}}"));
                }
            } else {
                let alts: Vec<&str> = inner.split('|').collect();
                let mut next = Vec::new();
                for v in &variants {
                    for a in &alts {
                        next.push(format!("{v}{a}"));
                    }
                }
                variants = next;
            }
            i = end + 1;
            if chars.get(i) == Some(&'?') {
                i += 1;
            }
            continue;
        }
        if c == '?' || c == '$' || c == '^' {
            i += 1;
            continue;
        }
        if c == '\\' {
            i += 1;
            if let Some(n) = chars.get(i) {
                for v in &mut variants {
                    v.push(*n);
                }
            }
            i += 1;
            continue;
        }
        for v in &mut variants {
            v.push(c);
        }
        i += 1;
    }
    variants.into_iter().map(|v| format!("/{v}")).collect()
}

fn matching_paren(chars: &[char], open: usize) -> usize {
    let mut depth = 0;
    for (j, c) in chars.iter().enumerate().skip(open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    chars.len().saturating_sub(1)
}

fn schema_of(ty: super::fields::FieldType, description: &str, default: Option<&Value>) -> Value {
    let (t, format) = ty.openapi_type();
    let mut s = Map::new();
    s.insert("type".into(), t.into());
    if let Some(f) = format {
        s.insert("format".into(), f.into());
    }
    if t == "array" {
        s.insert("items".into(), json!({"type": "string"}));
    }
    s.insert("description".into(), description.trim().into());
    if let Some(d) = default {
        s.insert("default".into(), d.clone());
    }
    Value::Object(s)
}

/// The OpenAPI 3 document for all paths (what `sys/internal/specs/openapi` aggregates).
pub(crate) fn openapi<B>(paths: &[Path<B>], version: &str, description: &str) -> Value {
    let mut out = Map::new();
    for p in paths {
        let captured: Vec<String> = regex_capture_names(&p.pattern);
        for template in openapi_paths(&p.pattern) {
            let mut item = Map::new();
            item.insert("description".into(), p.synopsis.trim().into());
            let params: Vec<Value> = captured
                .iter()
                .filter_map(|n| p.field_named(n))
                .map(|f| {
                    json!({"name": f.name, "description": f.description.trim(), "in": "path", "required": true,
                           "schema": {"type": f.ty.openapi_type().0}})
                })
                .collect();
            if !params.is_empty() {
                item.insert("parameters".into(), Value::Array(params));
            }
            let body_fields: Vec<_> = p
                .fields
                .iter()
                .filter(|f| !captured.iter().any(|c| c == f.name))
                .collect();
            for (op, spec) in &p.operations {
                let method = match op {
                    Operation::Read => "get",
                    Operation::List => "get",
                    Operation::Update | Operation::Create => "post",
                    Operation::Delete => "delete",
                    Operation::Patch => "patch",
                    _ => continue,
                };
                if item.contains_key(method) {
                    continue;
                }
                let mut o = Map::new();
                o.insert("summary".into(), spec.summary.into());
                o.insert("tags".into(), json!(["secrets"]));
                o.insert("responses".into(), json!({"200": {"description": "OK"}}));
                if *op == Operation::List {
                    o.insert(
                        "parameters".into(),
                        json!([{"name": "list", "in": "query", "required": true, "schema": {"type": "string", "enum": ["true"]}}]),
                    );
                }
                if method == "post" && !body_fields.is_empty() {
                    let props: Map<String, Value> = body_fields
                        .iter()
                        .map(|f| {
                            (
                                f.name.to_string(),
                                schema_of(f.ty, f.description, f.default.as_ref()),
                            )
                        })
                        .collect();
                    o.insert(
                        "requestBody".into(),
                        json!({"content": {"application/json": {"schema": {"type": "object", "properties": props}}}}),
                    );
                }
                item.insert(method.into(), Value::Object(o));
            }
            out.insert(template, Value::Object(item));
        }
    }
    json!({
        "openapi": "3.0.2",
        "info": {
            "title": "HashiCorp Vault API",
            "description": description,
            "version": version,
            "license": {"name": "Mozilla Public License 2.0", "url": "https://www.mozilla.org/en-US/MPL/2.0"}
        },
        "paths": out,
        "components": {"schemas": {}}
    })
}

fn regex_capture_names(pattern: &str) -> Vec<String> {
    pattern
        .split("(?P<")
        .skip(1)
        .filter_map(|s| s.split('>').next().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::path::name_segment;

    #[test]
    fn regexes_become_openapi_templates() {
        assert_eq!(openapi_paths("config/lease"), vec!["/config/lease"]);
        assert_eq!(
            openapi_paths(&format!("roles/{}", name_segment("name"))),
            vec!["/roles/{name}"]
        );
        assert_eq!(openapi_paths("roles/?"), vec!["/roles/"]);
        assert_eq!(
            openapi_paths(&format!("(creds|sts)/{}", name_segment("name"))),
            vec!["/creds/{name}", "/sts/{name}"]
        );
    }
}
