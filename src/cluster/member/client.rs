//! A broker's calls to the active controller: on this node when it leads,
//! else over the CONTROLLER listener of the leader it knows of (or of each
//! controller in turn), following "not the controller" answers.

use super::rpc::{decode, encode, RpcRequest, RpcResponse, WireReply};
use super::Member;
use crate::cluster::controller::api::Request;
use crate::cluster::raft::network::BrokerLink;
use std::rc::Rc;
use std::time::Duration;

/// Deadline of one exchange with a controller.
const CALL_DEADLINE_MS: u64 = 5_000;
/// Controllers tried for one call before giving up.
const CALL_ATTEMPTS_MAX: usize = 8;
/// Pause between attempts (an election may be under way).
const CALL_RETRY_BACKOFF_MS: u64 = 200;
/// A link's connection idle this long is replaced (the CONTROLLER listener
/// closes connections idle for its `peer_idle_timeout_ms`, 60 s).
const LINK_REUSE_IDLE_MS: u64 = 20_000;

impl Member {
    /// Sends `request` to the active controller; its reply and the metadata
    /// offset that holds it, or why no controller answered.
    pub(super) async fn call_controller(
        &self,
        request: &Request,
    ) -> Result<(WireReply, i64), String> {
        let wire = RpcRequest::from_request(request, self.raft_addr.as_deref())
            .ok_or_else(|| "request not forwarded to controllers".to_string())?;
        let body = encode(&wire);
        let addrs = self.config.controller_addrs();
        let mut hint = self.node.leader();
        let mut last_error = "no controller address configured".to_string();
        for attempt in 0..CALL_ATTEMPTS_MAX {
            if let Some((reply, offset)) = self.ask_local(request.clone()).await {
                return Ok((WireReply::from_reply(&reply), offset));
            }
            // Self as the hint: leading, but its controller is not up yet.
            let leader_addr = hint
                .filter(|id| *id != self.config.node_id as u64)
                .and_then(|id| self.config.voters.get(&id).cloned());
            let rotated = addrs.get(attempt % addrs.len().max(1)).cloned();
            let Some(addr) = leader_addr.or(rotated) else {
                break;
            };
            hint = None;
            match self
                .link(&addr)
                .call(body.clone(), Duration::from_millis(CALL_DEADLINE_MS))
                .await
            {
                Ok(answer) => match decode::<RpcResponse>(&answer) {
                    Ok(RpcResponse::Reply { reply, offset }) => return Ok((reply, offset)),
                    Ok(RpcResponse::NotController { leader }) => {
                        last_error = format!("{addr} is not the active controller");
                        hint = leader.or_else(|| self.node.leader());
                    }
                    Ok(other) => last_error = format!("{addr}: unexpected answer {other:?}"),
                    Err(e) => last_error = format!("{addr}: {e}"),
                },
                Err(e) => {
                    last_error = format!("{addr}: {e}");
                    if attempt == 0 {
                        // Likely a connection the controller's side closed
                        // (the link dropped it): try the leader again at
                        // once on a new one, so a heartbeat is not late.
                        hint = self.node.leader();
                        continue;
                    }
                }
            }
            glommio::timer::sleep(Duration::from_millis(CALL_RETRY_BACKOFF_MS)).await;
        }
        Err(last_error)
    }

    /// The link to the controller at `addr` (one per address, reused).
    pub(super) fn link(&self, addr: &str) -> Rc<BrokerLink> {
        self.links
            .borrow_mut()
            .entry(addr.to_string())
            .or_insert_with(|| {
                Rc::new(BrokerLink::new(
                    addr,
                    Duration::from_millis(LINK_REUSE_IDLE_MS),
                ))
            })
            .clone()
    }
}
