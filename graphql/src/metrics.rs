//! What the API counts for its operator: GraphQL requests answered. An atomic that the node
//! reads at each scrape of its `/metrics`; this crate knows no metric format.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The API's counters, shared between the schema's extension and the node's exporter.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    requests: AtomicU64,
}

impl ApiMetrics {
    /// GraphQL requests run: queries and mutations over HTTP, and every operation of a
    /// WebSocket (each subscription counts once, when it starts).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// The schema extension that counts requests into an [`ApiMetrics`].
pub(crate) struct CountRequests(pub(crate) Arc<ApiMetrics>);

impl async_graphql::extensions::ExtensionFactory for CountRequests {
    fn create(&self) -> Arc<dyn async_graphql::extensions::Extension> {
        Arc::new(CountRequests(self.0.clone()))
    }
}

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for CountRequests {
    async fn request(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        next: async_graphql::extensions::NextRequest<'_>,
    ) -> async_graphql::Response {
        self.0.requests.fetch_add(1, Ordering::Relaxed);
        next.run(ctx).await
    }

    fn subscribe<'s>(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        stream: futures_util::stream::BoxStream<'s, async_graphql::Response>,
        next: async_graphql::extensions::NextSubscribe<'_>,
    ) -> futures_util::stream::BoxStream<'s, async_graphql::Response> {
        self.0.requests.fetch_add(1, Ordering::Relaxed);
        next.run(ctx, stream)
    }
}
