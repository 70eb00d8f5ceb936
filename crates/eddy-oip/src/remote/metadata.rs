//! Asking the server what the model takes and gives (`GET /v2/models/{model}`), within the
//! configured timeout: how a pipeline checks its input mapping before reading events.

use super::config::RemoteConfig;
use super::error::MetadataError;
use super::outcome::FallbackReason;
use super::transport::Transport;
use crate::wire::ServedModel;

/// Fetches and reads the model's metadata on `rt`.
pub(super) fn fetch(
    rt: &tokio::runtime::Runtime,
    transport: &Transport,
    cfg: &RemoteConfig,
) -> Result<ServedModel, MetadataError> {
    let url = format!("{}/v2/models/{}", cfg.url.trim_end_matches('/'), cfg.model);
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| MetadataError::Unreachable(format!("bad URL {url:?}: {e}")))?;
    let fetched = rt.block_on(async {
        tokio::time::timeout(cfg.timeout, transport.get(uri))
            .await
            .map_err(|_| {
                (
                    FallbackReason::Timeout,
                    format!("no answer within {:?}", cfg.timeout),
                )
            })?
    });
    let (status, body) = fetched.map_err(|(reason, e)| match reason {
        FallbackReason::Tls => MetadataError::Tls(format!("GET {url}: {e}")),
        _ => MetadataError::Unreachable(format!("GET {url}: {e}")),
    })?;
    if !status.is_success() {
        return Err(MetadataError::Status {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).trim().to_string(),
        });
    }
    ServedModel::from_slice(&body)
        .map_err(|e| MetadataError::Malformed(format!("GET {url}: not OIP model metadata: {e}")))
}
