//! Attachments: screenshots and files, stored once by content hash, typed by
//! their bytes rather than by what the sender claimed.

use crate::auth::Principal;
use crate::{App, AppError};
use guichet_domain::history::FieldChange;
use guichet_domain::ids::{AttachmentId, CommentId, TicketId};
use guichet_store::attachments::{Attachment, NewAttachment};
use guichet_store::{Conn, StoreError};
use sha2::{Digest, Sha256};

/// Types a browser may show inline: raster images only, never SVG or HTML,
/// which can carry scripts.
const INLINE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

pub fn is_inline(mime: &str) -> bool {
    INLINE_TYPES.contains(&mime)
}

/// The MIME type of the content, from its magic bytes.
pub fn sniff_mime(content: &[u8]) -> String {
    match infer::get(content) {
        Some(kind) => kind.mime_type().to_owned(),
        None if std::str::from_utf8(content).is_ok() => "text/plain; charset=utf-8".to_owned(),
        None => "application/octet-stream".to_owned(),
    }
}

/// Keeps the last path component, without control or quoting characters.
pub fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | '|' | '*' | '?' | ':'))
        .take(200)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        "piece-jointe".to_owned()
    } else {
        cleaned
    }
}

/// An attachment about to be added.
pub struct Upload<'a> {
    pub filename: &'a str,
    pub content: &'a [u8],
    pub internal: bool,
    pub comment: Option<CommentId>,
}

impl App {
    pub async fn add_attachment(&self, p: &Principal, key: &str, upload: Upload<'_>) -> Result<Attachment, AppError> {
        Self::check_upload(p, &upload, self.settings.attachment_max_bytes)?;
        let mut tx = self.db.begin().await?;
        let ticket = self.visible_ticket(&mut tx, p, key).await?.ticket;
        let attachment = self.attach_in(&mut tx, p, ticket.id, upload).await?;
        tx.commit().await?;
        Ok(attachment)
    }

    /// Size, emptiness and internal-flag checks, before anything is written.
    pub(crate) fn check_upload(p: &Principal, upload: &Upload<'_>, limit: usize) -> Result<(), AppError> {
        if upload.content.len() > limit {
            return Err(AppError::TooLarge { limit });
        }
        if upload.content.is_empty() {
            return Err(AppError::field("file", "the file is empty"));
        }
        if upload.internal && !p.actor.can_see_internal() {
            return Err(AppError::field("internal", "only the desk adds internal attachments"));
        }
        Ok(())
    }

    /// Stores a checked upload on a ticket the actor may see, inside the caller's transaction.
    pub(crate) async fn attach_in(
        &self,
        tx: &mut guichet_store::Conn,
        p: &Principal,
        ticket: guichet_domain::ids::TicketId,
        upload: Upload<'_>,
    ) -> Result<Attachment, AppError> {
        let now = self.now();
        let mut internal = upload.internal;
        if let Some(comment) = upload.comment {
            let visibility = guichet_store::comments::find_comment_visibility(tx, ticket, comment).await?;
            match visibility {
                // A file on an internal note is as internal as the note.
                Some(comment_internal) if comment_internal && !p.actor.can_see_internal() => {
                    return Err(AppError::NotFound("comment"))
                }
                Some(comment_internal) => internal |= comment_internal,
                None => return Err(AppError::NotFound("comment")),
            }
        }
        let sha256 = hex::encode(Sha256::digest(upload.content));
        let mime = sniff_mime(upload.content);
        let filename = clean_filename(upload.filename);
        guichet_store::attachments::insert_blob(tx, &sha256, upload.content).await?;
        let new = NewAttachment {
            ticket,
            comment: upload.comment,
            sha256: &sha256,
            filename: &filename,
            mime: &mime,
            size: i64::try_from(upload.content.len()).unwrap_or(i64::MAX),
            internal,
            uploaded_by: p.user.id,
        };
        let attachment = guichet_store::attachments::insert_attachment(tx, &new, now).await?;
        let change = FieldChange { field: "attachment", old: None, new: Some(filename), internal };
        self.record_history(tx, ticket, Some(p.user.id), &[change], now).await?;
        guichet_store::tickets::touch_ticket(tx, ticket, now, false).await?;
        Ok(attachment)
    }

    /// An attachment and its content, if the actor may see its ticket (and,
    /// for an internal one, internal content).
    pub async fn get_attachment(&self, p: &Principal, id: AttachmentId) -> Result<(Attachment, Vec<u8>), AppError> {
        let mut conn = self.db.conn().await?;
        let attachment = guichet_store::attachments::find_attachment(&mut conn, id).await.map_err(not_found)?;
        if attachment.internal && !p.actor.can_see_internal() {
            return Err(AppError::NotFound("attachment"));
        }
        guichet_store::tickets::find_ticket(&mut conn, attachment.ticket, &p.actor.scope()).await.map_err(not_found)?;
        let content = guichet_store::attachments::read_blob(&mut conn, &attachment.sha256).await?;
        Ok((attachment, content))
    }

    pub async fn list_attachments(&self, p: &Principal, key: &str) -> Result<Vec<Attachment>, AppError> {
        let mut conn = self.db.conn().await?;
        let ticket = self.visible_ticket(&mut conn, p, key).await?.ticket;
        Self::attachments_of(&mut conn, p, ticket.id).await
    }

    /// [`App::list_attachments`] for a ticket already checked visible.
    pub(crate) async fn attachments_of(
        conn: &mut Conn,
        p: &Principal,
        ticket: TicketId,
    ) -> Result<Vec<Attachment>, AppError> {
        Ok(guichet_store::attachments::list_attachments(conn, ticket, p.actor.can_see_internal()).await?)
    }
}

fn not_found(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::NotFound("attachment"),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_is_recognised_by_its_bytes_whatever_its_name() {
        let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R'];
        assert_eq!(sniff_mime(&png), "image/png");
        assert!(is_inline("image/png"));
    }

    #[test]
    fn html_and_svg_are_never_inline() {
        assert!(!is_inline(&sniff_mime(b"<html><script>alert(1)</script></html>")));
        assert!(!is_inline(&sniff_mime(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")));
        assert_eq!(sniff_mime("Bonjour, voici les journaux".as_bytes()), "text/plain; charset=utf-8");
        assert_eq!(sniff_mime(&[0xff, 0xfe, 0x00, 0x81]), "application/octet-stream");
    }

    #[test]
    fn filenames_lose_paths_and_quotes() {
        assert_eq!(clean_filename("C:\\Users\\x\\capture \"1\".png"), "capture 1.png");
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("..."), "piece-jointe");
        assert_eq!(clean_filename(""), "piece-jointe");
    }
}
