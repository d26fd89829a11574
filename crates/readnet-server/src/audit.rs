//! `readnet.v1.AuditService`: the log's tree as the keeper keeps it (`readnet-audit`), its
//! checkpoints, proofs, and closed statements' lines proven down to their events.

use std::sync::Arc;

use readnet_audit::{AuditError, Signed, Tree};
use readnet_domain::access::Act;
use readnet_projection::{Handle, access, wait_budget};
use readnet_proto::v1 as pb;
use readnet_settlement::{Period, Settlement};
use readnet_store::{AllFrom, Direction, EventStore, Position};
use readnet_tlog::{Hash, leaf_bytes};
use tonic::{Request, Response, Status};

#[derive(Clone)]
pub struct AuditService {
    tree: Tree,
    store: Arc<dyn EventStore>,
    settlement: Handle<Settlement>,
}

impl AuditService {
    pub fn new(tree: Tree, store: Arc<dyn EventStore>, settlement: Handle<Settlement>) -> Self {
        AuditService {
            tree,
            store,
            settlement,
        }
    }

    /// The canonical record bytes of the event at `position`.
    async fn leaf(&self, position: u64) -> Result<Vec<u8>, Status> {
        let page = self
            .store
            .read_all(
                AllFrom::Position(Position::new(position)),
                Direction::Forwards,
                1,
            )
            .await
            .map_err(|e| Status::unavailable(format!("reading position {position}: {e}")))?;
        let event = page
            .into_iter()
            .next()
            .filter(|e| e.position.get() == position)
            .ok_or_else(|| Status::not_found(format!("position: the log has no {position}")))?;
        let mut bytes = Vec::new();
        leaf_bytes(&event, &mut bytes);
        Ok(bytes)
    }
}

fn status(error: AuditError) -> Status {
    match error {
        AuditError::NotYet { .. } | AuditError::Stopped(_) => {
            Status::unavailable(error.to_string())
        }
        AuditError::Empty { .. } | AuditError::Proof(_) => {
            Status::invalid_argument(error.to_string())
        }
        AuditError::Tree(_) | AuditError::Io(_) => Status::internal(error.to_string()),
    }
}

fn signed_pb(signed: &Signed) -> pb::SignedCheckpoint {
    pb::SignedCheckpoint {
        note: signed.note.clone(),
        size: signed.checkpoint.size,
        root: signed.checkpoint.root.to_vec(),
        time: signed.checkpoint.time.unwrap_or_default(),
    }
}

fn hashes(proof: Vec<Hash>) -> Vec<Vec<u8>> {
    proof.into_iter().map(|h| h.to_vec()).collect()
}

fn period(value: &str) -> Result<Period, Status> {
    value
        .parse()
        .map_err(|e| Status::invalid_argument(format!("period: {e}")))
}

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for AuditService {
    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::GetCheckpointResponse>, Status> {
        access::authorize(&request, Act::Audit, &[])?;
        let r = request.into_inner();
        let signed = if r.period.is_empty() {
            match self.tree.latest() {
                Some(latest) => latest,
                None => self.tree.sign(self.tree.size()).await.map_err(status)?,
            }
        } else {
            let period = period(&r.period)?;
            self.tree
                .period(&period.to_string())
                .map_err(status)?
                .ok_or_else(|| {
                    Status::not_found(format!(
                        "period: {period} has no checkpoint: it is not closed, or the tree has \
                         not reached its close yet"
                    ))
                })?
        };
        Ok(Response::new(pb::GetCheckpointResponse {
            checkpoint: Some(signed_pb(&signed)),
        }))
    }

    async fn sign_checkpoint(
        &self,
        request: Request<pb::SignCheckpointRequest>,
    ) -> Result<Response<pb::SignCheckpointResponse>, Status> {
        access::authorize(&request, Act::Audit, &[])?;
        let wait = wait_budget(request.metadata());
        let head = self.store.head_position().get();
        self.tree.reach(head, wait).await.map_err(status)?;
        let signed = self.tree.sign(head).await.map_err(status)?;
        Ok(Response::new(pb::SignCheckpointResponse {
            checkpoint: Some(signed_pb(&signed)),
        }))
    }

    async fn prove_inclusion(
        &self,
        request: Request<pb::ProveInclusionRequest>,
    ) -> Result<Response<pb::ProveInclusionResponse>, Status> {
        access::authorize(&request, Act::Audit, &[])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        if r.position == 0 {
            return Err(Status::invalid_argument("position: positions start at 1"));
        }
        if r.tree_size < r.position {
            return Err(Status::invalid_argument(format!(
                "tree_size: a tree of {} events does not hold position {}",
                r.tree_size, r.position
            )));
        }
        self.tree.reach(r.tree_size, wait).await.map_err(status)?;
        let leaf = self.leaf(r.position).await?;
        let proof = self
            .tree
            .inclusion(r.position - 1, r.tree_size)
            .map_err(status)?;
        Ok(Response::new(pb::ProveInclusionResponse {
            position: r.position,
            tree_size: r.tree_size,
            leaf,
            proof: hashes(proof),
        }))
    }

    async fn prove_consistency(
        &self,
        request: Request<pb::ProveConsistencyRequest>,
    ) -> Result<Response<pb::ProveConsistencyResponse>, Status> {
        access::authorize(&request, Act::Audit, &[])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        if r.old_size > r.new_size {
            return Err(Status::invalid_argument(format!(
                "old_size: {} is larger than new_size {}",
                r.old_size, r.new_size
            )));
        }
        self.tree.reach(r.new_size, wait).await.map_err(status)?;
        let proof = self
            .tree
            .consistency(r.old_size, r.new_size)
            .map_err(status)?;
        Ok(Response::new(pb::ProveConsistencyResponse {
            old_size: r.old_size,
            new_size: r.new_size,
            proof: hashes(proof),
        }))
    }

    async fn prove_statement_line(
        &self,
        request: Request<pb::ProveStatementLineRequest>,
    ) -> Result<Response<pb::ProveStatementLineResponse>, Status> {
        access::authorize(&request, Act::Audit, &[])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let (page, _) = self
            .settlement
            .read(None, wait, |state| {
                readnet_settlement::service::line_page(state, &r)
            })
            .await?;
        let (close, line, charges, more) = page.map_err(Status::from)?;
        // The keeper signs the period's checkpoint when it passes the close.
        self.tree
            .reach(close.close_position.get(), wait)
            .await
            .map_err(status)?;
        let checkpoint = self
            .tree
            .period(&close.period.to_string())
            .map_err(status)?
            .ok_or_else(|| {
                Status::internal(format!(
                    "period {} is closed but the tree kept no checkpoint for it",
                    close.period
                ))
            })?;
        let size = close.through_position.get();
        if checkpoint.checkpoint.size != size {
            return Err(Status::internal(format!(
                "period {}'s checkpoint is of {} events, not of its through_position {size}",
                close.period, checkpoint.checkpoint.size
            )));
        }
        let mut proven = Vec::with_capacity(charges.len());
        for charge in charges {
            if charge.position > size {
                return Err(Status::internal(format!(
                    "a charge of period {} is at position {}, after its through_position {size}",
                    close.period, charge.position
                )));
            }
            let leaf = self.leaf(charge.position).await?;
            let proof = self
                .tree
                .inclusion(charge.position - 1, size)
                .map_err(status)?;
            proven.push(pb::ProvenCharge {
                charge: Some(charge),
                leaf,
                proof: hashes(proof),
            });
        }
        Ok(Response::new(pb::ProveStatementLineResponse {
            checkpoint: Some(signed_pb(&checkpoint)),
            line: Some(line),
            charges: proven,
            more,
        }))
    }
}
