//! The declarative path table: what an engine's API is, as data.
//!
//! Each path has a pattern, typed fields, one handler per operation and an
//! optional existence check; help and OpenAPI are generated from the same
//! table, so documentation cannot drift from behaviour.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use regex::Regex;
use serde_json::{Map, Value};

use super::error::Error;
use super::fields::{default_or_zero, parse_field, validation_failed, FieldType, FieldValue};
use super::request::{Operation, Request, Response};
use super::storage::{Storage, SystemView};

/// A boxed, sendable future.
pub type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// What a handler returns: `Ok(None)` is "nothing to say" (404 on read, 204 on write).
pub type HandlerResult = Result<Option<Response>, Error>;
/// An operation handler.
pub type Handler<B> = Arc<dyn Fn(Ctx<B>) -> BoxFut<HandlerResult> + Send + Sync>;
/// An existence check: does the object this request names already exist?
pub type ExistenceCheck<B> = Arc<dyn Fn(Ctx<B>) -> BoxFut<Result<bool, Error>> + Send + Sync>;

/// Wraps an `async fn(Ctx<B>) -> HandlerResult` as a [`Handler`].
pub fn handler<B, F, Fut>(f: F) -> Handler<B>
where
    F: Fn(Ctx<B>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    Arc::new(move |ctx| Box::pin(f(ctx)))
}

/// Wraps an `async fn(Ctx<B>) -> Result<bool, Error>` as an [`ExistenceCheck`].
pub fn existence<B, F, Fut>(f: F) -> ExistenceCheck<B>
where
    F: Fn(Ctx<B>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<bool, Error>> + Send + 'static,
{
    Arc::new(move |ctx| Box::pin(f(ctx)))
}

/// Everything a handler may use: the mount's state, its storage, the request and its parsed fields.
pub struct Ctx<B> {
    pub backend: Arc<B>,
    pub storage: Storage,
    pub system: SystemView,
    pub req: Request,
    pub fields: FieldData,
}

/// A request field.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
    pub description: &'static str,
    pub default: Option<Value>,
    pub required: bool,
    /// Also accepted in the query string of GET requests (documentation only).
    pub query: bool,
}

impl Field {
    /// A field of type `ty`.
    pub fn new(name: &'static str, ty: FieldType, description: &'static str) -> Self {
        Self {
            name,
            ty,
            description,
            default: None,
            required: false,
            query: false,
        }
    }
    /// With a default used when the request omits it.
    pub fn default(mut self, v: impl Into<Value>) -> Self {
        self.default = Some(v.into());
        self
    }
    /// Marked required in help/OpenAPI (handlers still check presence themselves, as in Vault).
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Marked as a query parameter.
    pub fn query(mut self) -> Self {
        self.query = true;
        self
    }
}

/// One handler plus its documentation.
pub struct OperationSpec<B> {
    pub handler: Handler<B>,
    pub summary: &'static str,
}

/// One entry of the path table.
pub struct Path<B> {
    /// Regex source, anchored when compiled.
    pub pattern: String,
    regex: Regex,
    pub fields: Vec<Field>,
    pub operations: Vec<(Operation, OperationSpec<B>)>,
    pub existence_check: Option<ExistenceCheck<B>>,
    pub synopsis: &'static str,
    pub description: &'static str,
}

/// Go's `\w` is ASCII only; so is ours.
const W: &str = "[0-9A-Za-z_]";

/// A path segment captured as `name`: word characters, with `-`, `.` and `@` allowed
/// inside (the SDK's `GenericNameWithAtRegex`).
pub fn name_segment(name: &str) -> String {
    format!("(?P<{name}>{W}(([0-9A-Za-z_.@-]+)?{W})?)")
}

impl<B> Path<B> {
    /// A path matching `pattern` (a regex without anchors).
    ///
    /// # Panics
    /// If `pattern` is not a valid regex: patterns are constants written by us,
    /// so this is a programming error caught by the unit tests of the table.
    pub fn new(pattern: impl Into<String>) -> Self {
        let pattern = pattern.into();
        #[allow(clippy::expect_used)]
        let regex =
            Regex::new(&format!("^{pattern}$")).expect("path pattern must be a valid regex");
        Self {
            pattern,
            regex,
            fields: Vec::new(),
            operations: Vec::new(),
            existence_check: None,
            synopsis: "",
            description: "",
        }
    }
    /// Adds a field.
    pub fn field(mut self, f: Field) -> Self {
        self.fields.push(f);
        self
    }
    /// Adds a handler for `op`.
    pub fn op(mut self, op: Operation, summary: &'static str, h: Handler<B>) -> Self {
        self.operations.push((
            op,
            OperationSpec {
                handler: h,
                summary,
            },
        ));
        self
    }
    /// Sets the existence check (the path must then handle both create and update).
    pub fn exists(mut self, c: ExistenceCheck<B>) -> Self {
        self.existence_check = Some(c);
        self
    }
    /// Help texts.
    pub fn help(mut self, synopsis: &'static str, description: &'static str) -> Self {
        self.synopsis = synopsis;
        self.description = description;
        self
    }

    /// Named captures if `path` matches.
    pub fn captures(&self, path: &str) -> Option<Map<String, Value>> {
        let caps = self.regex.captures(path)?;
        let mut out = Map::new();
        for name in self.regex.capture_names().flatten() {
            if let Some(m) = caps.name(name) {
                out.insert(name.to_string(), Value::String(m.as_str().to_string()));
            }
        }
        Some(out)
    }

    /// The handler for `op`; create falls back to update on paths without an existence check.
    pub fn operation(&self, op: &Operation) -> Option<&OperationSpec<B>> {
        let find = |o: &Operation| self.operations.iter().find(|(k, _)| k == o).map(|(_, s)| s);
        find(op).or_else(|| match op {
            Operation::Create if self.existence_check.is_none() => find(&Operation::Update),
            _ => None,
        })
    }

    /// Field by name.
    pub fn field_named(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Parsed request fields. Values were validated before the handler ran.
#[derive(Debug, Clone, Default)]
pub struct FieldData {
    values: HashMap<String, FieldValue>,
    present: HashSet<String>,
}

impl FieldData {
    /// Parses `raw` against `schema`: every supplied declared field must convert.
    /// Returns the parsed data and the names of supplied keys that are not declared.
    pub fn parse(schema: &[Field], raw: &Map<String, Value>) -> Result<(Self, Vec<String>), Error> {
        let mut fd = FieldData::default();
        for f in schema {
            let supplied = match raw.get(f.name) {
                Some(v) => {
                    parse_field(f.name, f.ty, v).map_err(|e| Error::bad(validation_failed(&e)))?
                }
                None => None,
            };
            match supplied {
                Some(parsed) => {
                    fd.values.insert(f.name.to_string(), parsed);
                    fd.present.insert(f.name.to_string());
                }
                None => {
                    fd.values.insert(
                        f.name.to_string(),
                        default_or_zero(f.ty, f.default.as_ref()),
                    );
                }
            }
        }
        let mut unknown: Vec<String> = raw
            .keys()
            .filter(|k| !schema.iter().any(|f| f.name == k.as_str()))
            .cloned()
            .collect();
        unknown.sort();
        Ok((fd, unknown))
    }

    /// Whether the request supplied `name`.
    pub fn is_present(&self, name: &str) -> bool {
        self.declared(name);
        self.present.contains(name)
    }

    /// The value (supplied, default or zero).
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.declared(name);
        self.values.get(name)
    }

    /// Asking for a field the path does not declare is a bug (a typo reads as "absent" and the
    /// input is silently ignored). Debug builds and every unit test build (`make test` runs
    /// them in release mode) stop there, as the SDK's `FieldData.Get` panics; release builds
    /// answer as for an absent field.
    fn declared(&self, name: &str) {
        assert!(
            !cfg!(any(debug_assertions, test)) || self.values.contains_key(name),
            "field {name:?} is not declared by this path"
        );
    }

    /// The value only if supplied.
    pub fn supplied(&self, name: &str) -> Option<&FieldValue> {
        if self.is_present(name) {
            self.values.get(name)
        } else {
            None
        }
    }

    /// String value ("" if absent or not a string-like field).
    pub fn string(&self, name: &str) -> String {
        match self.get(name) {
            Some(FieldValue::String(s)) => s.clone(),
            _ => String::new(),
        }
    }

    /// String value only if supplied.
    pub fn opt_string(&self, name: &str) -> Option<String> {
        self.supplied(name).map(|_| self.string(name))
    }

    /// Integer value (0 if absent).
    pub fn int(&self, name: &str) -> i64 {
        match self.get(name) {
            Some(FieldValue::Int(i)) | Some(FieldValue::Duration(i)) => *i,
            _ => 0,
        }
    }

    /// Integer only if supplied.
    pub fn opt_int(&self, name: &str) -> Option<i64> {
        self.supplied(name).map(|_| self.int(name))
    }

    /// Boolean value (false if absent).
    pub fn bool(&self, name: &str) -> bool {
        matches!(self.get(name), Some(FieldValue::Bool(true)))
    }

    /// Boolean only if supplied.
    pub fn opt_bool(&self, name: &str) -> Option<bool> {
        self.supplied(name).map(|_| self.bool(name))
    }

    /// List value (empty if absent).
    pub fn list(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(FieldValue::StringList(l)) => l.clone(),
            _ => Vec::new(),
        }
    }

    /// List only if supplied.
    pub fn opt_list(&self, name: &str) -> Option<Vec<String>> {
        self.supplied(name).map(|_| self.list(name))
    }

    /// key=value pairs (empty if absent).
    pub fn kv(&self, name: &str) -> BTreeMap<String, String> {
        match self.get(name) {
            Some(FieldValue::KvPairs(m)) => m.clone(),
            _ => BTreeMap::new(),
        }
    }

    /// key=value pairs only if supplied.
    pub fn opt_kv(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.supplied(name).map(|_| self.kv(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct B;

    #[test]
    fn name_segment_matches_like_vaults_regex() {
        let p: Path<B> = Path::new(format!("roles/{}", name_segment("name")));
        assert_eq!(
            p.captures("roles/dev").and_then(|c| c.get("name").cloned()),
            Some(Value::from("dev"))
        );
        assert!(p.captures("roles/a.b-c@d").is_some());
        assert!(p.captures("roles/a").is_some());
        assert!(p.captures("roles/-a").is_none());
        assert!(p.captures("roles/a-").is_none());
        assert!(p.captures("roles/ü").is_none());
        assert!(p.captures("roles/a/b").is_none());
        assert!(p.captures("xroles/a").is_none());
    }

    #[test]
    fn field_data_distinguishes_supplied_default_and_zero() {
        let schema = vec![
            Field::new("a", FieldType::String, "a"),
            Field::new("b", FieldType::Int, "b").default(7),
            Field::new("c", FieldType::DurationSecond, "c"),
        ];
        let raw: Map<String, Value> =
            serde_json::from_str(r#"{"a":"x","c":"1h","zz":1,"aa":2}"#).expect("json");
        let (fd, unknown) = FieldData::parse(&schema, &raw).expect("valid");
        assert_eq!(fd.string("a"), "x");
        assert_eq!(fd.int("b"), 7);
        assert_eq!(fd.opt_int("b"), None);
        assert_eq!(fd.int("c"), 3600);
        assert_eq!(unknown, vec!["aa".to_string(), "zz".to_string()]);
    }

    #[test]
    fn bad_field_names_field_and_rule() {
        let schema = vec![Field::new("ttl", FieldType::DurationSecond, "t")];
        let raw: Map<String, Value> = serde_json::from_str(r#"{"ttl":"soon"}"#).expect("json");
        let err = FieldData::parse(&schema, &raw).expect_err("invalid");
        match err {
            Error::BadRequest(m) => {
                assert!(
                    m.starts_with(
                        "Field validation failed: error converting input for field \"ttl\": "
                    ),
                    "{m}"
                )
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    #[should_panic(expected = "is not declared by this path")]
    fn asking_for_an_undeclared_field_is_a_bug_in_debug_builds() {
        let schema = vec![Field::new("name", FieldType::String, "n")];
        let (fd, _) = FieldData::parse(&schema, &Map::new()).expect("valid");
        assert_eq!(fd.string("name"), "");
        let _ = fd.string("nmae");
    }

    #[test]
    fn create_falls_back_to_update_only_without_existence_check() {
        let h = handler(|_: Ctx<B>| async { Ok(None) });
        let p: Path<B> = Path::new("x").op(Operation::Update, "u", h.clone());
        assert!(p.operation(&Operation::Create).is_some());
        let p = p.exists(existence(|_: Ctx<B>| async { Ok(true) }));
        assert!(p.operation(&Operation::Create).is_none());
        assert!(p.operation(&Operation::Read).is_none());
    }
}
