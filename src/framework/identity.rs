//! The identity entity behind a request, and Vault's identity templating over it.
//!
//! Engines name who asked (a session name, a tag) with the same directives Vault's ACL
//! policies use: `{{identity.entity.id}}`, `{{identity.entity.name}}`,
//! `{{identity.entity.metadata.<key>}}`, `{{identity.entity.aliases.<mount accessor>.id}}`,
//! `.name`, `.metadata.<key>` and `.custom_metadata.<key>`. Splitting and trimming follow
//! the SDK's `identitytpl` (`PopulateString` in ACL mode): text before the first `{{` may not
//! hold `}}`, every `{{` closes with exactly one `}}`, and the directive inside is trimmed.
//! Unlike ACL templating, a directive that resolves to an empty value is an error too: a
//! credential must never carry a silently empty name.
//!
//! A template is parsed once ([`IdentityTemplate::parse`], when a role is written, so an
//! unknown directive is refused before anything is stored) and rendered per request
//! ([`IdentityTemplate::render`]) with the entity the server returned for the request's
//! `entity_id` (`SystemView::entity_info`).

use std::collections::BTreeMap;
use std::fmt;

use crate::gocompat::quote::go_quote;

/// An identity entity as the server's system view returns it (`logical.Entity`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entity {
    pub id: String,
    pub name: String,
    pub metadata: BTreeMap<String, String>,
    /// Only the aliases in the mount's namespace (the server filters them).
    pub aliases: Vec<Alias>,
}

/// One login identity of an entity, bound to an auth mount (`logical.Alias`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alias {
    pub id: String,
    pub name: String,
    pub mount_accessor: String,
    pub mount_type: String,
    /// Set by the auth method at login (approle sets `role_name`).
    pub metadata: BTreeMap<String, String>,
    /// Set by an operator on the alias.
    pub custom_metadata: BTreeMap<String, String>,
}

/// What one directive names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Directive {
    EntityId,
    EntityName,
    EntityMetadata(String),
    Alias { accessor: String, field: AliasField },
}

/// The part of an alias a directive names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AliasField {
    Id,
    Name,
    Metadata(String),
    CustomMetadata(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// The directive as written between the braces (trimmed), and what it names.
    Directive(String, Directive),
}

/// A parsed identity template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityTemplate {
    parts: Vec<Part>,
}

/// Why a template cannot be used at all (refused when it is written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The SDK's `ErrUnbalancedTemplatingCharacter`, in its words.
    #[error("unbalanced templating characters")]
    Unbalanced,
    /// A directive this engine does not resolve.
    #[error(
        "unsupported template directive {{{{{0}}}}}: supported are identity.entity.id, \
         identity.entity.name, identity.entity.metadata.<key> and \
         identity.entity.aliases.<mount accessor>.(id|name|metadata.<key>|custom_metadata.<key>)"
    )]
    Unsupported(String),
}

/// Why a template could not be rendered for one request; the text names the directive and
/// what is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot resolve {{{{{directive}}}}}: {missing}")]
pub struct ResolveError {
    /// The directive as written.
    pub directive: String,
    /// What the entity lacks.
    pub missing: String,
}

impl IdentityTemplate {
    /// Parses `text`; a string without `{{` is a literal.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut pieces = text.split("{{");
        let first = pieces.next().unwrap_or_default();
        if first.contains("}}") {
            return Err(TemplateError::Unbalanced);
        }
        let mut parts = Vec::new();
        if !first.is_empty() {
            parts.push(Part::Text(first.to_string()));
        }
        for piece in pieces {
            let (inside, after) = piece.split_once("}}").ok_or(TemplateError::Unbalanced)?;
            if after.contains("}}") {
                return Err(TemplateError::Unbalanced);
            }
            let written = inside.trim();
            let directive = parse_directive(written)
                .ok_or_else(|| TemplateError::Unsupported(written.to_string()))?;
            parts.push(Part::Directive(written.to_string(), directive));
            if !after.is_empty() {
                parts.push(Part::Text(after.to_string()));
            }
        }
        Ok(Self { parts })
    }

    /// Whether rendering needs an entity (the template holds at least one directive).
    pub fn has_directives(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Directive(..)))
    }

    /// The literal text between the directives, in order.
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            Part::Directive(..) => None,
        })
    }

    /// The text with every directive replaced by the entity's value. `entity` is `None` when
    /// the request has no entity (a root token, a token made without one).
    pub fn render(&self, entity: Option<&Entity>) -> Result<String, ResolveError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Directive(written, d) => {
                    let fail = |missing: String| ResolveError {
                        directive: written.clone(),
                        missing,
                    };
                    let entity = entity.ok_or_else(|| {
                        fail(
                            "the request's token has no identity entity (a root token, or a \
                             token created without one)"
                                .to_string(),
                        )
                    })?;
                    out.push_str(resolve(d, entity).map_err(fail)?);
                }
            }
        }
        Ok(out)
    }
}

/// `identity.entity.…` directives; anything else is unsupported.
fn parse_directive(written: &str) -> Option<Directive> {
    let rest = written.strip_prefix("identity.entity.")?;
    let key = |k: &str| (!k.is_empty()).then(|| k.to_string());
    match rest {
        "id" => Some(Directive::EntityId),
        "name" => Some(Directive::EntityName),
        _ => {
            if let Some(k) = rest.strip_prefix("metadata.") {
                return key(k).map(Directive::EntityMetadata);
            }
            let (accessor, field) = rest.strip_prefix("aliases.")?.split_once('.')?;
            let field = match field {
                "id" => AliasField::Id,
                "name" => AliasField::Name,
                _ => {
                    if let Some(k) = field.strip_prefix("metadata.") {
                        AliasField::Metadata(key(k)?)
                    } else {
                        AliasField::CustomMetadata(key(field.strip_prefix("custom_metadata.")?)?)
                    }
                }
            };
            (!accessor.is_empty()).then(|| Directive::Alias {
                accessor: accessor.to_string(),
                field,
            })
        }
    }
}

/// The non-empty value `d` names in `entity`, or what is missing.
fn resolve<'e>(d: &Directive, entity: &'e Entity) -> Result<&'e str, String> {
    // (value if present, who holds it, which of its values)
    let lookup = |m: &'e BTreeMap<String, String>, map: &str, k: &str| {
        (
            m.get(k).map(String::as_str),
            format!("{map} key {}", go_quote(k)),
        )
    };
    let (value, holder, what) = match d {
        Directive::EntityId => (
            Some(entity.id.as_str()),
            "the entity".to_string(),
            "id".to_string(),
        ),
        Directive::EntityName => (
            Some(entity.name.as_str()),
            "the entity".to_string(),
            "name".to_string(),
        ),
        Directive::EntityMetadata(k) => {
            let (v, what) = lookup(&entity.metadata, "metadata", k);
            (v, "the entity".to_string(), what)
        }
        Directive::Alias { accessor, field } => {
            let alias = entity
                .aliases
                .iter()
                .find(|a| a.mount_accessor == *accessor)
                .ok_or_else(|| {
                    format!(
                        "the entity has no alias on the auth mount with accessor {}",
                        go_quote(accessor)
                    )
                })?;
            let holder = format!("the entity's alias on {}", go_quote(accessor));
            let (v, what) = match field {
                AliasField::Id => (Some(alias.id.as_str()), "id".to_string()),
                AliasField::Name => (Some(alias.name.as_str()), "name".to_string()),
                AliasField::Metadata(k) => lookup(&alias.metadata, "metadata", k),
                AliasField::CustomMetadata(k) => {
                    lookup(&alias.custom_metadata, "custom_metadata", k)
                }
            };
            (v, holder, what)
        }
    };
    match value {
        None => Err(format!("{holder} has no {what}")),
        Some("") => Err(format!("{what} of {holder} is empty")),
        Some(v) => Ok(v),
    }
}

impl fmt::Display for IdentityTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.parts {
            match p {
                Part::Text(t) => f.write_str(t)?,
                Part::Directive(w, _) => write!(f, "{{{{{w}}}}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity() -> Entity {
        Entity {
            id: "e-1".into(),
            name: "alice".into(),
            metadata: BTreeMap::from([("team".into(), "blue".into()), ("blank".into(), "".into())]),
            aliases: vec![Alias {
                id: "a-1".into(),
                name: "alice-login".into(),
                mount_accessor: "auth_userpass_1".into(),
                mount_type: "userpass".into(),
                metadata: BTreeMap::from([("role_name".into(), "ci".into())]),
                custom_metadata: BTreeMap::from([("site".into(), "fra".into())]),
            }],
        }
    }

    fn render(t: &str) -> Result<String, String> {
        let tpl = IdentityTemplate::parse(t).map_err(|e| e.to_string())?;
        tpl.render(Some(&entity())).map_err(|e| e.to_string())
    }

    #[test]
    fn literals_pass_through_unchanged() {
        let t = IdentityTemplate::parse("plain-name").expect("literal");
        assert!(!t.has_directives());
        assert_eq!(t.render(None).expect("no entity needed"), "plain-name");
        assert_eq!(render("").expect("empty"), "");
    }

    #[test]
    fn every_supported_directive_resolves() {
        assert_eq!(render("{{identity.entity.id}}").unwrap(), "e-1");
        assert_eq!(
            render("u-{{ identity.entity.name }}-x").unwrap(),
            "u-alice-x"
        );
        assert_eq!(render("{{identity.entity.metadata.team}}").unwrap(), "blue");
        let a = "identity.entity.aliases.auth_userpass_1";
        assert_eq!(render(&format!("{{{{{a}.id}}}}")).unwrap(), "a-1");
        assert_eq!(render(&format!("{{{{{a}.name}}}}")).unwrap(), "alice-login");
        assert_eq!(
            render(&format!("{{{{{a}.metadata.role_name}}}}")).unwrap(),
            "ci"
        );
        assert_eq!(
            render(&format!("{{{{{a}.custom_metadata.site}}}}")).unwrap(),
            "fra"
        );
        assert_eq!(
            render("{{identity.entity.name}}@{{identity.entity.metadata.team}}").unwrap(),
            "alice@blue"
        );
    }

    #[test]
    fn unresolvable_directives_name_what_is_missing() {
        assert_eq!(
            render("{{identity.entity.metadata.cost}}").unwrap_err(),
            r#"cannot resolve {{identity.entity.metadata.cost}}: the entity has no metadata key "cost""#
        );
        assert_eq!(
            render("{{identity.entity.metadata.blank}}").unwrap_err(),
            r#"cannot resolve {{identity.entity.metadata.blank}}: metadata key "blank" of the entity is empty"#
        );
        assert_eq!(
            render("{{identity.entity.aliases.auth_x.name}}").unwrap_err(),
            r#"cannot resolve {{identity.entity.aliases.auth_x.name}}: the entity has no alias on the auth mount with accessor "auth_x""#
        );
        assert_eq!(
            render("{{identity.entity.aliases.auth_userpass_1.metadata.k}}").unwrap_err(),
            r#"cannot resolve {{identity.entity.aliases.auth_userpass_1.metadata.k}}: the entity's alias on "auth_userpass_1" has no metadata key "k""#
        );
        let t = IdentityTemplate::parse("x-{{identity.entity.id}}").expect("parses");
        let e = t.render(None).unwrap_err();
        assert_eq!(e.directive, "identity.entity.id");
        assert!(e.missing.contains("has no identity entity"), "{e}");
    }

    #[test]
    fn syntax_and_unsupported_directives_are_refused_when_parsed() {
        for bad in [
            "a}}b",
            "{{identity.entity.id",
            "{{identity.entity.id}}}}",
            "x}}{{identity.entity.id}}",
        ] {
            assert_eq!(
                IdentityTemplate::parse(bad),
                Err(TemplateError::Unbalanced),
                "{bad}"
            );
        }
        for bad in [
            "identity.entity.metadata",
            "identity.entity.metadata.",
            "identity.groups.names.g.id",
            "time.now",
            "identity.entity.aliases.acc",
            "identity.entity.aliases..name",
            "identity.entity.aliases.acc.metadata",
            "identity.entity.groups.names",
            "",
        ] {
            assert_eq!(
                IdentityTemplate::parse(&format!("{{{{{bad}}}}}")),
                Err(TemplateError::Unsupported(bad.to_string())),
                "{bad}"
            );
        }
        let e = IdentityTemplate::parse("{{time.now}}")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("unsupported template directive {{time.now}}: supported are"),
            "{e}"
        );
    }

    #[test]
    fn literals_and_display_keep_the_written_form() {
        let t = IdentityTemplate::parse("a-{{ identity.entity.id }}-b").expect("parses");
        assert_eq!(t.literals().collect::<Vec<_>>(), vec!["a-", "-b"]);
        assert_eq!(t.to_string(), "a-{{identity.entity.id}}-b");
    }
}
