//! Request/reply services on Zenoh queryables, typed with [`Message`]s.

use std::marker::PhantomData;
use std::time::Duration;

use striatum_msgs::{DecodeError, Message};
use zenoh::Wait;
use zenoh::query::Query;

use crate::error::BusError;
use crate::pubsub::{check_announced, encoding_for, schema_of};

/// A declared service; it answers until dropped.
pub struct Service<Req, Resp> {
    _inner: zenoh::query::Queryable<()>,
    _types: PhantomData<fn(Req) -> Resp>,
}

fn decode_request<Req: Message>(query: &Query) -> Result<Req, DecodeError> {
    check_announced::<Req>(query.encoding().and_then(schema_of))?;
    let bytes = query
        .payload()
        .map(|p| p.to_bytes().into_owned())
        .unwrap_or_default();
    Req::decode(&bytes)
}

impl<Req: Message, Resp: Message> Service<Req, Resp> {
    pub(crate) async fn declare<F>(
        session: &zenoh::Session,
        key: &str,
        handler: F,
    ) -> Result<Self, BusError>
    where
        F: Fn(Req) -> Result<Resp, String> + Send + Sync + 'static,
    {
        let inner = session
            .declare_queryable(key.to_owned())
            .callback(move |query: Query| {
                let answer = decode_request::<Req>(&query)
                    .map_err(|e| format!("bad request: {e}"))
                    .and_then(&handler)
                    .and_then(|resp| {
                        resp.encode()
                            .map_err(|e| format!("cannot encode reply: {e}"))
                    });
                let key = query.key_expr().clone();
                let sent = match answer {
                    Ok(bytes) => query
                        .reply(key, bytes)
                        .encoding(encoding_for::<Resp>())
                        .wait(),
                    Err(message) => query.reply_err(message).wait(),
                };
                if let Err(e) = sent {
                    tracing::warn!("service could not reply: {e}");
                }
            })
            .await
            .map_err(BusError::zenoh)?;
        Ok(Self {
            _inner: inner,
            _types: PhantomData,
        })
    }
}

/// Calls the service at `key` and waits for the first reply.
pub(crate) async fn call<Req: Message, Resp: Message>(
    session: &zenoh::Session,
    key: &str,
    request: &Req,
    timeout: Duration,
) -> Result<Resp, BusError> {
    let replies = session
        .get(key.to_owned())
        .payload(request.encode()?)
        .encoding(encoding_for::<Req>())
        .timeout(timeout)
        .await
        .map_err(BusError::zenoh)?;
    let reply = replies
        .recv_async()
        .await
        .map_err(|_| BusError::Timeout(timeout))?;
    match reply.into_result() {
        Ok(sample) => Ok(crate::pubsub::decode_sample::<Resp>(&sample)?),
        Err(err) => Err(BusError::Remote {
            key: key.to_owned(),
            message: String::from_utf8_lossy(&err.payload().to_bytes()).into_owned(),
        }),
    }
}
