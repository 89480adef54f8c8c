//! Which token each logged-in connection uses, so that revoking a token in
//! the store also ends it on live connections (security issue: "revoked on
//! logout and on password change").
//!
//! - `logout` revokes the token: every *other* connection that resumed the
//!   same token is signed off too.
//! - A new password revokes every token of the account but the caller's:
//!   every connection of that account on another token is signed off.
//!
//! A signed-off connection leaves presence at once (no more `chat` or
//! `presence` pushes) and becomes anonymous at its next request, which is
//! then answered as for any anonymous connection (`unauthenticated` for ops
//! that need a session); the connection itself stays open.
//!
//! Every change of a connection's hub membership made here and by
//! [`LiveSessions::attach`] happens under this registry's lock, so a
//! sign-off and a concurrent login on the same connection cannot be
//! applied out of order.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::hub::{ConnId, Hub, Member};

#[derive(Debug)]
struct Live {
    user_id: String,
    token_hash: String,
    /// Its token was revoked elsewhere: sign it off at its next request.
    revoked: bool,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct LiveSessions {
    by_conn: Mutex<HashMap<ConnId, Live>>,
}

impl LiveSessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<ConnId, Live>> {
        self.by_conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connection `conn` is now logged in as `member` with `token_hash`
    /// (replacing what it had); the hub learns it under the same lock.
    pub(crate) fn attach(&self, hub: &Hub, conn: ConnId, member: Member, token_hash: &str) {
        let mut live = self.lock();
        live.insert(
            conn,
            Live {
                user_id: member.user_id.clone(),
                token_hash: token_hash.to_owned(),
                revoked: false,
            },
        );
        hub.set_member(conn, Some(member));
    }

    /// Connection `conn` is no longer logged in (logout, or it closed).
    pub(crate) fn detach(&self, hub: &Hub, conn: ConnId) {
        let mut live = self.lock();
        live.remove(&conn);
        hub.set_member(conn, None);
    }

    /// True (once) when `conn`'s token was revoked elsewhere; it is then
    /// forgotten here and the caller drops the connection's session.
    pub(crate) fn take_revoked(&self, conn: ConnId) -> bool {
        let mut live = self.lock();
        if live.get(&conn).is_some_and(|l| l.revoked) {
            live.remove(&conn);
            true
        } else {
            false
        }
    }

    /// [`LiveSessions::revoke_token`] here and on every other instance.
    pub(crate) fn revoke_token_everywhere(
        &self,
        hub: &Hub,
        token_hash: &str,
        except: ConnId,
    ) -> usize {
        hub.relay(crate::bus::BusMessage::RevokeToken {
            token_hash: token_hash.to_owned(),
        });
        self.revoke_token(hub, token_hash, except)
    }

    /// [`LiveSessions::revoke_user`] here and on every other instance.
    pub(crate) fn revoke_user_everywhere(
        &self,
        hub: &Hub,
        user_id: &str,
        keep_token_hash: &str,
    ) -> usize {
        hub.relay(crate::bus::BusMessage::RevokeUser {
            user_id: user_id.to_owned(),
            keep_token_hash: keep_token_hash.to_owned(),
        });
        self.revoke_user(hub, user_id, keep_token_hash)
    }

    /// Signs off every connection but `except` whose token is `token_hash`.
    /// Returns how many.
    pub(crate) fn revoke_token(&self, hub: &Hub, token_hash: &str, except: ConnId) -> usize {
        self.revoke(hub, except, |l| l.token_hash == token_hash)
    }

    /// Signs off every connection of `user_id` whose token is not
    /// `keep_token_hash`. Returns how many.
    pub(crate) fn revoke_user(&self, hub: &Hub, user_id: &str, keep_token_hash: &str) -> usize {
        self.revoke(hub, ConnId::MAX, |l| {
            l.user_id == user_id && l.token_hash != keep_token_hash
        })
    }

    fn revoke(&self, hub: &Hub, except: ConnId, hit: impl Fn(&Live) -> bool) -> usize {
        let mut live = self.lock();
        let mut count = 0;
        for (conn, entry) in live.iter_mut() {
            if *conn != except && !entry.revoked && hit(entry) {
                entry.revoked = true;
                hub.set_member(*conn, None);
                count += 1;
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use bytes::Bytes;
    use tokio_util::sync::CancellationToken;

    use crate::outbox::Outbox;

    fn member(id: &str) -> Member {
        Member {
            user_id: id.into(),
            username: format!("user{id}"),
        }
    }

    fn join(hub: &Hub) -> (ConnId, Arc<Outbox>) {
        let outbox = Arc::new(Outbox::new(64));
        let id = hub.join(Arc::clone(&outbox), CancellationToken::new(), |_| {
            Bytes::new()
        });
        (id, outbox)
    }

    #[test]
    fn logout_signs_off_the_other_connections_on_that_token_only() {
        let hub = Hub::default();
        let live = LiveSessions::default();
        let (a, _ra) = join(&hub);
        let (b, _rb) = join(&hub);
        let (c, _rc) = join(&hub);
        live.attach(&hub, a, member("1"), "t1");
        live.attach(&hub, b, member("1"), "t1");
        live.attach(&hub, c, member("1"), "t2");
        assert_eq!(live.revoke_token(&hub, "t1", a), 1);
        assert!(!live.take_revoked(a));
        assert!(live.take_revoked(b));
        assert!(!live.take_revoked(b), "reported once");
        assert!(!live.take_revoked(c));
        assert_eq!(hub.online().users, ["user1"], "a and c are still on");
    }

    #[test]
    fn a_password_change_signs_off_the_accounts_other_tokens() {
        let hub = Hub::default();
        let live = LiveSessions::default();
        let (a, _ra) = join(&hub);
        let (b, _rb) = join(&hub);
        let (c, _rc) = join(&hub);
        let (d, _rd) = join(&hub);
        live.attach(&hub, a, member("1"), "keep");
        live.attach(&hub, b, member("1"), "keep");
        live.attach(&hub, c, member("1"), "other");
        live.attach(&hub, d, member("2"), "someone-else");
        assert_eq!(live.revoke_user(&hub, "1", "keep"), 1);
        assert!(live.take_revoked(c));
        assert!(!live.take_revoked(a) && !live.take_revoked(b) && !live.take_revoked(d));
        // A fresh login on the signed-off connection is not revoked.
        live.attach(&hub, c, member("1"), "new");
        assert!(!live.take_revoked(c));
        live.detach(&hub, a);
        live.detach(&hub, b);
        live.detach(&hub, c);
        assert_eq!(hub.online().users, ["user2"]);
    }
}
