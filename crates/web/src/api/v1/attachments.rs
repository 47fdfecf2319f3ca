//! Attachments: upload to a ticket (multipart), list, download.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Auth;
use crate::extract::Multipart;
use crate::extract::Path;
use crate::views::AttachmentView;
use crate::AppState;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use guichet_app::attachments::{is_inline, Upload};
use guichet_app::AppError;
use guichet_domain::ids::{AttachmentId, CommentId};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The multipart form of an upload: these fields and no other.
#[derive(Debug, ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file, with its name; not empty.
    #[schema(value_type = String, format = Binary, min_length = 1)]
    file: Vec<u8>,
    /// `true` to keep it among the desk (default false).
    #[schema(required = false)]
    internal: bool,
    /// Id of the comment it belongs to.
    #[schema(required = false, minimum = 1)]
    comment: i64,
}

/// The upload route, with a body limit just above the attachment limit so
/// that an oversized file is refused while it streams in.
pub fn upload_router(state: &AppState) -> OpenApiRouter<AppState> {
    let limit = state.app.settings.attachment_max_bytes.saturating_add(1024 * 1024);
    OpenApiRouter::new().routes(routes!(upload_attachment)).layer(DefaultBodyLimit::max(limit))
}

fn multipart_error(e: axum::extract::multipart::MultipartError, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::from(AppError::TooLarge { limit })
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the multipart body is malformed: {}", e.body_text()),
            None,
        )
    }
}

/// Attach a file (a screenshot…) to a ticket.
#[utoipa::path(post, path = "/tickets/{key}/attachments", tag = "attachments",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    params(("key" = String, Path)),
    responses((status = 201, body = AttachmentView), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upload_attachment(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
    Multipart(mut multipart): Multipart,
) -> ApiResult<(StatusCode, axum::Json<AttachmentView>)> {
    let limit = state.app.settings.attachment_max_bytes;
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut internal = false;
    let mut comment = None;
    while let Some(mut field) = multipart.next_field().await.map_err(|e| multipart_error(e, limit))? {
        match field.name().unwrap_or_default() {
            "file" => {
                let name = field.file_name().unwrap_or("piece-jointe").to_owned();
                let mut content = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, limit))? {
                    if content.len() + chunk.len() > limit {
                        return Err(AppError::TooLarge { limit }.into());
                    }
                    content.extend_from_slice(&chunk);
                }
                file = Some((name, content));
            }
            "internal" => {
                let text = field.text().await.map_err(|e| multipart_error(e, limit))?;
                // Form encoders write booleans their own way: `True` from Python, `on` from a checkbox.
                internal = match text.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "on" => true,
                    "false" | "0" | "" | "off" | "null" => false,
                    _ => return Err(AppError::field("internal", "`internal` is true or false").into()),
                };
            }
            "comment" => {
                let text = field.text().await.map_err(|e| multipart_error(e, limit))?;
                let id = text.trim().parse().map_err(|_| AppError::field("comment", "`comment` is a comment id"))?;
                comment = Some(CommentId(id));
            }
            other => {
                return Err(AppError::field(other.to_owned(), format!("unknown form field `{other}`")).into());
            }
        }
    }
    let (filename, content) = file.ok_or_else(|| AppError::field("file", "a `file` field is required"))?;
    let upload = Upload { filename: &filename, content: &content, internal, comment };
    let attachment = state.app.add_attachment(&p, &key, upload).await?;
    Ok((StatusCode::CREATED, axum::Json(AttachmentView::from(attachment))))
}

/// The ticket's attachments (internal ones only for the desk).
#[utoipa::path(get, path = "/tickets/{key}/attachments", tag = "attachments", params(("key" = String, Path)),
    responses((status = 200, body = Vec<AttachmentView>), (status = 404, body = ErrorBody)))]
pub async fn list_attachments(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
) -> ApiResult<axum::Json<Vec<AttachmentView>>> {
    let list = state.app.list_attachments(&p, &key).await?;
    Ok(axum::Json(list.into_iter().map(AttachmentView::from).collect()))
}

/// Download an attachment. Raster images are shown inline; everything else
/// is a download, and nothing served here may run scripts.
#[utoipa::path(get, path = "/attachments/{id}", tag = "attachments", params(("id" = i64, Path)),
    responses((status = 200, description = "the file, with the type it was stored with (image/png…)", content_type = "*/*"),
        (status = 404, body = ErrorBody)))]
pub async fn get_attachment(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = id.parse().map(AttachmentId).map_err(|_| AppError::NotFound("attachment"))?;
    let (attachment, content) = state.app.get_attachment(&p, id).await?;
    Ok(file_response(&attachment, content))
}

/// The response serving an attachment: its sniffed type, inline only for
/// raster images, and a sandbox so that nothing served may run scripts.
pub fn file_response(attachment: &guichet_store::attachments::Attachment, content: Vec<u8>) -> Response {
    let disposition = if is_inline(&attachment.mime) { "inline" } else { "attachment" };
    let ascii: String = attachment
        .filename
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || ".-_ ".contains(c) { c } else { '_' })
        .collect();
    let encoded: String = attachment
        .filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let disposition = format!("{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let mut response = content.into_response();
    let headers = response.headers_mut();
    let content_type =
        HeaderValue::from_str(&attachment.mime).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400"));
    response
}
