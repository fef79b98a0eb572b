//! Making room for a static role's new key, as Vault does.
//!
//! IAM allows two access keys per user (a fixed quota). Vault's static roles
//! (builtin/logical/aws/rotation.go, `createCredential`) list the user's keys before every
//! CreateAccessKey, at role creation and at each rotation, and when the user holds two they
//! delete the one with the oldest `CreateDate`, whoever made it, then create the new key (its
//! API docs: "At each rotation, Vault will rotate the oldest existing credential"). So a key the
//! user held before the role adopted it is retired at the first rotation at the latest, and a
//! user that already holds two keys can still be adopted instead of failing with
//! `LimitExceeded`. Nothing is deleted while there is room, so a key lives up to two periods
//! (hashicorp/vault#27477); `single_key` is our answer to that.
//! We do the same, and say which key went: the role-write and rotate-role responses carry a
//! warning naming it, a scheduled rotation logs it.

use std::time::SystemTime;

use crate::aws::iam_user::{delete_access_key, DatedKey};
use crate::framework::Error;

use super::model::rfc3339;

/// IAM's quota of access keys per user (not adjustable; Vault hard-codes it too).
pub(crate) const MAX_KEYS_PER_USER: usize = 2;

/// A key deleted to make room for the new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RetiredKey {
    pub(crate) id: String,
    pub(crate) username: String,
    pub(crate) created: Option<SystemTime>,
    /// How many keys the user held when it was chosen.
    pub(crate) held: usize,
    /// It was the role's own current key (its clients lose it now, not one rotation later).
    pub(crate) was_current: bool,
}

impl RetiredKey {
    fn created_text(&self) -> String {
        self.created
            .map(rfc3339)
            .unwrap_or_else(|| "at a time IAM did not report".to_string())
    }

    /// The response warning (and log message) that names the key.
    pub(crate) fn warning(&self) -> String {
        let own = if self.was_current {
            ", and the role's current key"
        } else {
            ""
        };
        format!(
            "retired access key {} of IAM user \"{}\" (created {}, the oldest of the user's {} \
             access keys{own}) to make room for the new key: IAM allows {MAX_KEYS_PER_USER} \
             access keys per user",
            self.id,
            self.username,
            self.created_text(),
            self.held,
        )
    }
}

/// The key to retire when the user holds [`MAX_KEYS_PER_USER`] or more: the one with the oldest
/// `CreateDate`. A key without a date counts as the oldest (nothing says it is newer); among
/// equally old keys the role's `current` key is kept if it can be, then the first listed goes
/// (Vault keeps the first listed of equals).
pub(crate) fn oldest<'a>(keys: &'a [DatedKey], current: &str) -> Option<&'a DatedKey> {
    if keys.len() < MAX_KEYS_PER_USER {
        return None;
    }
    keys.iter().min_by_key(|k| (k.created, k.id == current))
}

/// Deletes the oldest of `keys` (the user's keys, as just listed) when the user has no room for
/// another; returns the keys left on the user and the retired one. A delete that AWS refuses is
/// an error and nothing else has happened.
pub(crate) async fn make_room(
    iam: &aws_sdk_iam::Client,
    username: &str,
    keys: Vec<DatedKey>,
    current: &str,
) -> Result<(Vec<String>, Option<RetiredKey>), Error> {
    let Some(victim) = oldest(&keys, current).cloned() else {
        return Ok((keys.into_iter().map(|k| k.id).collect(), None));
    };
    let retired = RetiredKey {
        id: victim.id.clone(),
        username: username.to_string(),
        created: victim.created,
        held: keys.len(),
        was_current: !current.is_empty() && victim.id == current,
    };
    delete_access_key(iam, username, &victim.id)
        .await
        .map_err(|f| {
            Error::internal(format!(
                "unable to delete the oldest access key {} (created {}) of IAM user \"{username}\" \
                 to make room for the new key: {}",
                retired.id,
                retired.created_text(),
                f.text
            ))
        })?;
    let left = keys
        .into_iter()
        .map(|k| k.id)
        .filter(|id| id != &victim.id)
        .collect();
    Ok((left, Some(retired)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(id: &str, secs: Option<u64>) -> DatedKey {
        DatedKey {
            id: id.to_string(),
            created: secs.map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s)),
        }
    }

    #[test]
    fn room_left_retires_nothing() {
        assert_eq!(oldest(&[], "A"), None);
        assert_eq!(oldest(&[key("A", Some(1))], "A"), None);
    }

    #[test]
    fn the_oldest_goes_whoever_made_it() {
        let keys = [key("NEW", Some(20)), key("OLD", Some(10))];
        assert_eq!(oldest(&keys, "").map(|k| k.id.as_str()), Some("OLD"));
        assert_eq!(oldest(&keys, "NEW").map(|k| k.id.as_str()), Some("OLD"));
        // the role's own key is not spared when it is the oldest (as Vault)
        assert_eq!(oldest(&keys, "OLD").map(|k| k.id.as_str()), Some("OLD"));
    }

    #[test]
    fn undated_counts_as_oldest_and_ties_spare_the_current_key() {
        let keys = [key("DATED", Some(10)), key("UNDATED", None)];
        assert_eq!(oldest(&keys, "").map(|k| k.id.as_str()), Some("UNDATED"));
        let tie = [key("A", Some(10)), key("B", Some(10))];
        assert_eq!(oldest(&tie, "").map(|k| k.id.as_str()), Some("A"));
        assert_eq!(oldest(&tie, "A").map(|k| k.id.as_str()), Some("B"));
    }

    #[test]
    fn warning_names_key_date_and_whose() {
        let r = RetiredKey {
            id: "AKIAOLD".into(),
            username: "app".into(),
            created: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            held: 2,
            was_current: false,
        };
        assert_eq!(
            r.warning(),
            "retired access key AKIAOLD of IAM user \"app\" (created 2023-11-14T22:13:20Z, the \
             oldest of the user's 2 access keys) to make room for the new key: IAM allows 2 \
             access keys per user"
        );
        let own = RetiredKey {
            was_current: true,
            created: None,
            ..r
        };
        let w = own.warning();
        assert!(w.contains("created at a time IAM did not report"), "{w}");
        assert!(w.contains("and the role's current key)"), "{w}");
    }
}
