//! What a write carries from the request that caused it: its request id,
//! so that the mail it queues is logged, minutes later and maybe on another
//! node, under the same id as the request.

tokio::task_local! {
    static REQUEST_ID: Option<String>;
}

/// Runs `work` as part of the request `id`.
pub fn with_request_id<F: std::future::Future>(
    id: Option<String>,
    work: F,
) -> tokio::task::futures::TaskLocalFuture<Option<String>, F> {
    REQUEST_ID.scope(id, work)
}

/// The request the current work belongs to, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_knows_its_request_only_inside_the_scope() {
        assert_eq!(current_request_id(), None);
        let inside = with_request_id(Some("r-1".into()), async { current_request_id() }).await;
        assert_eq!(inside.as_deref(), Some("r-1"));
        assert_eq!(current_request_id(), None);
    }
}
