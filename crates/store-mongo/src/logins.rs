//! Failed logins counted for the login back-off (issue 15): one document
//! per key in `login_failures`, `{ _id: key, failures: n, last: date }`,
//! shared by every server instance on the database. A TTL index on `last`
//! lets MongoDB delete counts idle for [`KEPT`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use coliseum_store::{LoginFailures, StoreError, StoreResult};
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;

use crate::error::{duplicate_key_index, map_err};
use crate::model::{from_bson_time, names, to_bson_time};
use crate::store::Inner;

/// How long MongoDB keeps a count after its latest failure (the TTL
/// index's `expireAfterSeconds`; far longer than any sensible back-off
/// window, which the reads apply themselves).
pub(crate) const KEPT: Duration = Duration::from_secs(24 * 60 * 60);

/// Reads a count document; `None` when it is not one.
fn count_of(document: &Document) -> Option<LoginFailures> {
    let failures = match document.get("failures")? {
        Bson::Int32(n) => u32::try_from(*n).ok()?,
        Bson::Int64(n) => u32::try_from(*n).ok()?,
        _ => return None,
    };
    let last = from_bson_time(*document.get_datetime("last").ok()?);
    Some(LoginFailures { failures, last })
}

impl Inner {
    fn login_failure_docs(&self) -> mongodb::Collection<Document> {
        self.db.collection(names::LOGIN_FAILURES)
    }

    /// See [`coliseum_store::Store::record_login_failure`]: a stale count is
    /// deleted, then `$inc` with upsert counts; two instances upserting a
    /// new key at once collide on `_id` and the loser retries as an update.
    pub async fn record_login_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> StoreResult<LoginFailures> {
        let docs = self.login_failure_docs();
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let stale_before = now
            .checked_sub_signed(window)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        docs.delete_one(doc! { "_id": key, "last": { "$lt": to_bson_time(stale_before) } })
            .await
            .map_err(|e| map_err("record_login_failure", &e))?;
        let update = doc! {
            "$inc": { "failures": 1_i32 },
            "$max": { "last": to_bson_time(now) },
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let counted = docs
                .find_one_and_update(doc! { "_id": key }, update.clone())
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await;
            match counted {
                Ok(Some(document)) => {
                    return count_of(&document).ok_or_else(|| {
                        StoreError::Unavailable(format!("login_failures: {key}: malformed count"))
                    });
                }
                Ok(None) => {
                    return Err(StoreError::Unavailable(
                        "login_failures: upsert returned nothing".to_owned(),
                    ));
                }
                Err(e) if attempts < 3 && duplicate_key_index(&e).is_some() => {}
                Err(e) => return Err(map_err("record_login_failure", &e)),
            }
        }
    }

    /// See [`coliseum_store::Store::login_failures`].
    pub async fn login_failures(
        &self,
        keys: &[String],
    ) -> StoreResult<Vec<(String, LoginFailures)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut cursor = self
            .login_failure_docs()
            .find(doc! { "_id": { "$in": keys } })
            .await
            .map_err(|e| map_err("login_failures", &e))?;
        let mut found = Vec::new();
        while cursor
            .advance()
            .await
            .map_err(|e| map_err("login_failures", &e))?
        {
            let document = cursor
                .deserialize_current()
                .map_err(|e| map_err("login_failures", &e))?;
            if let (Ok(key), Some(count)) = (document.get_str("_id"), count_of(&document)) {
                found.push((key.to_owned(), count));
            }
        }
        found.sort_by_key(|(key, _)| keys.iter().position(|k| k == key));
        Ok(found)
    }

    /// See [`coliseum_store::Store::clear_login_failures`].
    pub async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        self.login_failure_docs()
            .delete_one(doc! { "_id": key })
            .await
            .map_err(|e| map_err("clear_login_failures", &e))?;
        Ok(())
    }
}
