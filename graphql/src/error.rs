//! The API's error codes: every GraphQL error carries one in `extensions.code`, stable for
//! programs to match, with a message for people.

use async_graphql::ErrorExtensions as _;

/// The document (or block, or transaction) does not exist, or the caller may not see it: the
/// two are deliberately indistinguishable.
pub const NOT_FOUND: &str = "NOT_FOUND";
/// An argument is malformed or out of its limits.
pub const BAD_REQUEST: &str = "BAD_REQUEST";
/// The caller's certificate does not allow this request.
pub const FORBIDDEN: &str = "FORBIDDEN";
/// The node cannot serve it now (no leader, stopping, overloaded); safe to retry.
pub const UNAVAILABLE: &str = "UNAVAILABLE";
/// The node's state store failed.
pub const INTERNAL: &str = "INTERNAL";
/// The query asks for more work than one request may: its cost (lists counted by their page
/// size, PDFs and exports by what they cost) is over the limit, refused before anything runs;
/// or it renders more PDFs than one request may. Ask for fewer items or fields per request.
pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
/// The answer would be larger than one response may be; nothing of it is sent. Ask for fewer
/// items or fields per request.
pub const RESPONSE_TOO_LARGE: &str = "RESPONSE_TOO_LARGE";

/// A GraphQL error with `extensions.code`.
pub fn api_error(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

/// The same for a whole request (refused before or after its resolvers ran): no path, no
/// location.
pub fn request_error(code: &'static str, message: impl Into<String>) -> async_graphql::ServerError {
    let mut error = async_graphql::ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
}

/// The one not-found answer for anything the caller may not see or that does not exist.
pub fn not_found(what: &str) -> async_graphql::Error {
    api_error(NOT_FOUND, format!("{what} not found"))
}

/// A state-store failure: logged in full, answered in general terms.
pub fn internal(e: impl std::fmt::Display) -> async_graphql::Error {
    tracing::error!(error = %e, "state store failure while serving the API");
    api_error(INTERNAL, "the node's state store failed; see its log")
}

/// Gives the errors async-graphql raises itself before running a resolver (a query over the
/// depth limit, an unknown field, a variable of the wrong type) the code `BAD_REQUEST`, so that
/// every error a client sees carries `extensions.code`, over HTTP and over a WebSocket alike.
/// Errors of resolvers and of the cost limits already carry theirs.
pub struct ErrorCodes;

fn with_codes(mut response: async_graphql::Response) -> async_graphql::Response {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", BAD_REQUEST);
        }
    }
    response
}

impl async_graphql::extensions::ExtensionFactory for ErrorCodes {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(ErrorCodes)
    }
}

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for ErrorCodes {
    async fn request(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        next: async_graphql::extensions::NextRequest<'_>,
    ) -> async_graphql::Response {
        with_codes(next.run(ctx).await)
    }

    /// A WebSocket runs queries as well as subscriptions through here, not through `request`.
    fn subscribe<'s>(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        stream: futures_util::stream::BoxStream<'s, async_graphql::Response>,
        next: async_graphql::extensions::NextSubscribe<'_>,
    ) -> futures_util::stream::BoxStream<'s, async_graphql::Response> {
        use futures_util::StreamExt as _;
        next.run(ctx, stream).map(with_codes).boxed()
    }
}
