//! Reading an IAM list call to its last page (`Marker`/`IsTruncated`).
//!
//! One pager for every list the engine makes (teardown, access keys, group policies), so each
//! list is read to the end and a server that breaks the paging contract stops the caller
//! instead of looping or acting on half a list. Vault reads only the first 1000 items of its
//! lists, which is how a user with more attachments outlives its lease (hashicorp/vault#16685).

use std::future::Future;

use super::aws_error::AwsFailure;

/// Upper bound on pages per list. A correct server never gets near it; it stops a server that
/// keeps answering "truncated" from looping a revoke forever.
pub(crate) const MAX_PAGES: usize = 10_000;

/// One page of a list call.
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) is_truncated: bool,
    pub(crate) marker: Option<String>,
}

impl<T> Page<T> {
    /// A page from an SDK output's list field (typed `Vec` or `Option<Vec>` by the SDK).
    pub(crate) fn new(
        items: impl Into<Items<T>>,
        is_truncated: bool,
        marker: Option<String>,
    ) -> Self {
        Page {
            items: items.into().0,
            is_truncated,
            marker,
        }
    }
}

/// A list field of an SDK output, whichever way the SDK types it.
pub(crate) struct Items<T>(Vec<T>);

impl<T> From<Vec<T>> for Items<T> {
    fn from(v: Vec<T>) -> Self {
        Items(v)
    }
}

impl<T> From<Option<Vec<T>>> for Items<T> {
    fn from(v: Option<Vec<T>>) -> Self {
        Items(v.unwrap_or_default())
    }
}

/// Sends one IAM list request (a fluent builder, marker already set) and answers its
/// [`Page`], `$items` naming the output's list field: the send-and-read step every list shares.
macro_rules! iam_page {
    ($request:expr, $items:ident) => {{
        let out = $request
            .send()
            .await
            .map_err(|e| $crate::aws::aws_error::AwsFailure::from_sdk(&e))?;
        Ok($crate::aws::pages::Page::new(
            out.$items,
            out.is_truncated,
            out.marker,
        ))
    }};
}
pub(crate) use iam_page;

/// Why a list could not be read to the end.
#[derive(Debug)]
pub(crate) enum PageError {
    /// AWS refused page number `page` (0 is the first).
    Aws { failure: AwsFailure, page: usize },
    /// The server broke the paging contract: truncated without a marker, the same marker
    /// twice, or more than [`MAX_PAGES`] pages.
    Broken(String),
}

/// Reads every page, following the marker. Items are collected before the caller acts on
/// them: IAM markers are opaque, and deleting while paging could shift items past the marker.
pub(crate) async fn collect_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, PageError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, AwsFailure>>,
{
    let mut items = Vec::new();
    let mut marker: Option<String> = None;
    for page in 0..MAX_PAGES {
        let got = fetch(marker.clone())
            .await
            .map_err(|failure| PageError::Aws { failure, page })?;
        items.extend(got.items);
        if !got.is_truncated {
            return Ok(items);
        }
        match got.marker.filter(|m| !m.is_empty()) {
            None => {
                return Err(PageError::Broken(
                    "list is truncated but has no marker".into(),
                ))
            }
            Some(next) if marker.as_deref() == Some(next.as_str()) => {
                return Err(PageError::Broken(
                    "the same marker was returned twice".into(),
                ))
            }
            Some(next) => marker = Some(next),
        }
    }
    Err(PageError::Broken(format!("more than {MAX_PAGES} pages")))
}
