//! What an `assumed_role` session says about who asked: its session name, its tag values and
//! its source identity, rendered from the role's identity templates with the requesting
//! entity and checked against AWS's limits before any AWS call, so CloudTrail and
//! attribute-based access control see the Vault identity (hashicorp/vault#19412, #7960, #2615).
//!
//! A directive that cannot be resolved (no entity, as with a root token; a missing key) is a
//! 400 naming the field and the missing piece, never an empty value. A role without templates
//! costs no entity lookup and behaves as before.

use std::collections::BTreeMap;

use crate::framework::identity::{Entity, IdentityTemplate};
use crate::framework::storage::SystemView;
use crate::framework::Error;
use crate::gocompat::quote::go_quote;

use super::roles::{
    fits_tag_value, is_aws_name, RoleEntry, SESSION_NAME_RULE, SOURCE_IDENTITY_RULE, TAG_VALUE_RULE,
};
use super::username::normalize;

/// The identity parts of one `AssumeRole` call.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SessionIdentity {
    /// `RoleSessionName`; `None` generates one from the username template.
    pub(crate) name: Option<String>,
    /// `Tags`, sent only when not empty.
    pub(crate) tags: BTreeMap<String, String>,
    /// `SourceIdentity`, when the role sets one.
    pub(crate) source_identity: Option<String>,
}

/// The role's templates, parsed.
struct Templates {
    session_name: Option<IdentityTemplate>,
    source_identity: Option<IdentityTemplate>,
    tags: Vec<(String, IdentityTemplate)>,
}

impl Templates {
    fn parse(role: &RoleEntry) -> Result<Self, Error> {
        // Checked when the role was written; a stored value that no longer parses is refused
        // with the same words.
        let parse = |field: &str, text: &str| {
            IdentityTemplate::parse(text).map_err(|e| Error::bad(format!("{field}: {e}")))
        };
        let optional =
            |field: &str, text: &str| (!text.is_empty()).then(|| parse(field, text)).transpose();
        let tags = role
            .session_tags
            .iter()
            .flatten()
            .map(|(k, v)| Ok((k.clone(), parse(&tag_field(k), v)?)))
            .collect::<Result<_, Error>>()?;
        Ok(Self {
            session_name: optional("role_session_name", &role.sts.role_session_name)?,
            source_identity: optional("source_identity", &role.sts.source_identity)?,
            tags,
        })
    }

    fn need_entity(&self) -> bool {
        self.session_name
            .iter()
            .chain(&self.source_identity)
            .chain(self.tags.iter().map(|(_, t)| t))
            .any(IdentityTemplate::has_directives)
    }

    /// Every template rendered for `entity` and checked against AWS's limits.
    fn render_all(
        &self,
        entity: Option<&Entity>,
        role_name: &str,
        requested_name: Option<String>,
    ) -> Result<SessionIdentity, Error> {
        let name = match (&self.session_name, requested_name) {
            (Some(_), Some(_)) => {
                return Err(Error::bad(format!(
                    "role_session_name is set by Vault role {}; a request may not pass its own",
                    go_quote(role_name)
                )))
            }
            (Some(t), None) => Some(render_name(
                "role_session_name",
                t,
                entity,
                SESSION_NAME_RULE,
            )?),
            (None, requested) => requested.map(|s| normalize(&s)),
        };
        let source_identity = self
            .source_identity
            .as_ref()
            .map(|t| render_name("source_identity", t, entity, SOURCE_IDENTITY_RULE))
            .transpose()?;
        let mut tags = BTreeMap::new();
        for (key, t) in &self.tags {
            let field = tag_field(key);
            let value = render(&field, t, entity)?;
            if !fits_tag_value(&value) {
                return Err(Error::bad(format!(
                    "{field} is {} characters long after templating: {TAG_VALUE_RULE}",
                    value.chars().count()
                )));
            }
            tags.insert(key.clone(), value);
        }
        Ok(SessionIdentity {
            name,
            tags,
            source_identity,
        })
    }
}

fn tag_field(key: &str) -> String {
    format!("session_tags value for {}", go_quote(key))
}

/// `field`'s template rendered for `entity`, or a 400 naming the field and what is missing.
fn render(field: &str, t: &IdentityTemplate, entity: Option<&Entity>) -> Result<String, Error> {
    t.render(entity)
        .map_err(|e| Error::bad(format!("{field}: {e}")))
}

/// Resolves the session identity of an `assumed_role` request for Vault role `role_name`,
/// looking up the request's entity only when a template needs it.
///
/// `requested_name` is the request's `role_session_name` (normalised as Vault does when the
/// role sets none); a role that sets one refuses it, so a caller cannot hide who asked.
pub(crate) async fn resolve(
    role: &RoleEntry,
    role_name: &str,
    requested_name: Option<String>,
    entity_id: &str,
    system: &SystemView,
) -> Result<SessionIdentity, Error> {
    let templates = Templates::parse(role)?;
    let entity = if templates.need_entity() {
        system
            .entity_info(entity_id)
            .await
            .map_err(|e| Error::internal(format!("error looking up the request's entity: {e}")))?
    } else {
        None
    };
    templates.render_all(entity.as_ref(), role_name, requested_name)
}

/// A session name or source identity rendered for `entity`; a result AWS would refuse is a
/// 400 showing the template, its result and `rule`.
fn render_name(
    field: &str,
    t: &IdentityTemplate,
    entity: Option<&Entity>,
    rule: &str,
) -> Result<String, Error> {
    let value = render(field, t, entity)?;
    if is_aws_name(&value) {
        return Ok(value);
    }
    Err(Error::bad(format!(
        "{field} {} resolved to {}: {rule}",
        go_quote(&t.to_string()),
        go_quote(&value)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::identity::Alias;

    fn entity() -> Entity {
        Entity {
            id: "7d2e-id".into(),
            name: "alice".into(),
            metadata: BTreeMap::from([("team".into(), "blue".into())]),
            aliases: vec![Alias {
                mount_accessor: "auth_approle_1".into(),
                metadata: BTreeMap::from([("role_name".into(), "ci".into())]),
                ..Alias::default()
            }],
        }
    }

    fn role(name: &str, source_identity: &str, tags: &[(&str, &str)]) -> RoleEntry {
        let mut r = RoleEntry::default();
        r.sts.role_session_name = name.into();
        r.sts.source_identity = source_identity.into();
        if !tags.is_empty() {
            r.session_tags = Some(
                tags.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
        }
        r
    }

    fn resolve_for(
        r: &RoleEntry,
        e: Option<&Entity>,
        requested: Option<&str>,
    ) -> Result<SessionIdentity, String> {
        let t = Templates::parse(r).map_err(|e| e.to_string())?;
        t.render_all(e, "r", requested.map(str::to_string))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn templates_render_into_the_session() {
        let r = role(
            "vault-{{identity.entity.name}}",
            "{{identity.entity.aliases.auth_approle_1.metadata.role_name}}",
            &[
                ("team", "{{identity.entity.metadata.team}}"),
                ("fixed", "x"),
            ],
        );
        let got = resolve_for(&r, Some(&entity()), None).expect("resolves");
        assert_eq!(got.name.as_deref(), Some("vault-alice"));
        assert_eq!(got.source_identity.as_deref(), Some("ci"));
        assert_eq!(
            got.tags,
            BTreeMap::from([("fixed".into(), "x".into()), ("team".into(), "blue".into())])
        );
    }

    #[test]
    fn literal_roles_need_no_entity_and_work_as_before() {
        let r = role("", "", &[("team", "blue")]);
        assert!(!Templates::parse(&r).expect("parses").need_entity());
        let got = resolve_for(&r, None, Some("bob smith/x")).expect("resolves");
        assert_eq!(got.name.as_deref(), Some("bob_smith_x"));
        assert_eq!(got.tags["team"], "blue");
        assert_eq!(got.source_identity, None);
        assert_eq!(resolve_for(&r, None, None).expect("resolves").name, None);
    }

    #[test]
    fn what_cannot_be_resolved_or_sent_is_a_400_naming_the_field() {
        let r = role("{{identity.entity.name}}", "", &[]);
        let e = resolve_for(&r, None, None).unwrap_err();
        assert!(e.starts_with("role_session_name: cannot resolve {{identity.entity.name}}: the request's token has no identity entity"), "{e}");
        assert_eq!(
            resolve_for(&r, Some(&entity()), Some("mine")).unwrap_err(),
            r#"role_session_name is set by Vault role "r"; a request may not pass its own"#
        );

        let r = role("", "", &[("cost", "{{identity.entity.metadata.cost}}")]);
        assert_eq!(
            resolve_for(&r, Some(&entity()), None).unwrap_err(),
            r#"session_tags value for "cost": cannot resolve {{identity.entity.metadata.cost}}: the entity has no metadata key "cost""#
        );

        let mut long = entity();
        long.name = "n".repeat(300);
        let r = role("", "", &[("who", "{{identity.entity.name}}")]);
        assert_eq!(
            resolve_for(&r, Some(&long), None).unwrap_err(),
            format!(
                r#"session_tags value for "who" is 300 characters long after templating: {TAG_VALUE_RULE}"#
            )
        );
        let r = role("x{{identity.entity.name}}", "", &[]);
        let e = resolve_for(&r, Some(&long), None).unwrap_err();
        assert!(
            e.starts_with(r#"role_session_name "x{{identity.entity.name}}" resolved to "xnnn"#),
            "{e}"
        );
        assert!(e.ends_with(SESSION_NAME_RULE), "{e}");

        let mut spaced = entity();
        spaced.name = "alice smith".into();
        let r = role("", "{{identity.entity.name}}", &[]);
        assert_eq!(
            resolve_for(&r, Some(&spaced), None).unwrap_err(),
            format!(
                r#"source_identity "{{{{identity.entity.name}}}}" resolved to "alice smith": {SOURCE_IDENTITY_RULE}"#
            )
        );
    }
}
